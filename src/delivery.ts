import type { Envelope, ServerPacket } from './protocol.js';
import { encodeTextFrame } from './raw-frame.js';

/**
 * One packet on its way to clients, serialized once and shared by every client.
 * `conflationKey` says which older packet a newer one may replace for a client that is behind;
 * `null` means never replaced (alerts, container status).
 */
export interface Delivery {
  readonly type: ServerPacket['type'];
  readonly json: string;
  readonly conflationKey: string | null;
}

export function envelopeDelivery(envelope: Envelope, key: string): Delivery {
  return {
    type: envelope.type,
    json: JSON.stringify(envelope),
    // A dashboard behind on metrics needs only each series' latest value; alerts and container
    // transitions are events, and each one must arrive.
    conflationKey: envelope.type === 'system_metric' ? key : null,
  };
}

export function controlDelivery(packet: ServerPacket): Delivery {
  // Only the latest Redis state matters to a client that is behind.
  return { type: packet.type, json: JSON.stringify(packet), conflationKey: 'control:redis' };
}

const frames = new WeakMap<readonly Delivery[], Buffer>();

/**
 * The text frame's payload for a batch: the packet itself, or a JSON array of packets, as UTF-8 bytes.
 * Cached per batch array, so the shared batch is joined and encoded once however many clients receive
 * it (ws would otherwise encode a string once per client).
 */
export function encodeBatch(batch: readonly Delivery[]): Buffer {
  let frame = frames.get(batch);
  if (frame === undefined) {
    frame = Buffer.from(batch.length === 1 ? (batch[0] as Delivery).json : `[${batch.map((d) => d.json).join(',')}]`);
    frames.set(batch, frame);
  }
  return frame;
}

const wireFrames = new WeakMap<readonly Delivery[], Buffer>();

/** {@link encodeBatch} wrapped in a complete WebSocket text frame, built once per batch. */
export function encodeBatchFrame(batch: readonly Delivery[]): Buffer {
  let frame = wireFrames.get(batch);
  if (frame === undefined) {
    frame = encodeTextFrame(encodeBatch(batch));
    wireFrames.set(batch, frame);
  }
  return frame;
}
