import type { Envelope, ServerPacket, SnapshotEndPacket } from './protocol.js';
import { frameHeaderLength, writeFrameHeader } from './raw-frame.js';

/**
 * One packet on its way to clients, serialized once and shared by every client.
 * `conflationKey` says which older packet a newer one may replace for a client that is behind;
 * `null` means never replaced (alerts, container status).
 */
export interface Delivery {
  readonly type: ServerPacket['type'];
  readonly json: string;
  readonly conflationKey: string | null;
  /** An envelope's key (see `envelopeKey`); absent on control packets. */
  readonly key?: string;
  /** An envelope's `time`, as sent; absent on control packets. Read by the history. */
  readonly time?: string;
}

export function envelopeDelivery(envelope: Envelope, key: string): Delivery {
  return {
    type: envelope.type,
    json: JSON.stringify(envelope),
    // A dashboard behind on metrics needs only each series' latest value; alerts and container
    // transitions are events, and each one must arrive.
    conflationKey: envelope.type === 'system_metric' ? key : null,
    key,
    time: envelope.data.time,
  };
}

/** Only the latest Redis state matters to a client that is behind, so state packets replace each other. */
const REDIS_STATE_KEY = 'control:redis';

export function controlDelivery(packet: ServerPacket): Delivery {
  return { type: packet.type, json: JSON.stringify(packet), conflationKey: REDIS_STATE_KEY };
}

/** The 503 packet: Redis cannot deliver live data. */
export function redisDownDelivery(): Delivery {
  return controlDelivery({
    type: 'error',
    data: { code: 503, message: 'Service Unavailable', reason: 'redis_unavailable', time: new Date().toISOString() },
  });
}

/** The 200 packet: live data flows again. */
export function redisUpDelivery(): Delivery {
  return controlDelivery({ type: 'status', data: { code: 200, message: 'OK', time: new Date().toISOString() } });
}

export function snapshotEndDelivery(count: number): Delivery {
  return { type: 'snapshot_end', json: JSON.stringify({ type: 'snapshot_end', data: { count } } satisfies SnapshotEndPacket), conflationKey: null };
}

export const HEARTBEAT: readonly Delivery[] = [{ type: 'heartbeat', json: '{"type":"heartbeat"}', conflationKey: null }];

const frames = new WeakMap<readonly Delivery[], Buffer>();

/**
 * The bytes of a batch on the wire: one complete WebSocket text frame per packet, back to back, so
 * that a client reads one JSON object per frame while the server writes the whole batch with one
 * syscall. Built once per batch array (cached), so every client that sees the same batch shares them.
 */
export function encodeFrames(batch: readonly Delivery[]): Buffer {
  let bytes = frames.get(batch);
  if (bytes !== undefined) return bytes;
  const lengths = batch.map((d) => Buffer.byteLength(d.json));
  let total = 0;
  for (const length of lengths) total += frameHeaderLength(length) + length;
  bytes = Buffer.allocUnsafe(total);
  let offset = 0;
  batch.forEach((delivery, i) => {
    const length = lengths[i] as number;
    offset = writeFrameHeader(bytes as Buffer, offset, length);
    offset += (bytes as Buffer).write(delivery.json, offset, length, 'utf8');
  });
  frames.set(batch, bytes);
  return bytes;
}
