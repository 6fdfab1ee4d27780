import type { Envelope, ServerPacket, SnapshotEndPacket, SourceStatus, SourceStatusPacket } from '../../protocol/wire.js';
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
  /**
   * The envelope's `time`, read by the delivery-lag histogram and the history; `null` for packets that
   * are not envelopes. Set on every packet built here, so that all of them share one object shape.
   */
  readonly time?: string | null;
  /** An envelope's key (see `envelopeKey`); absent on control packets. */
  readonly key?: string;
  /** What client filters match on (see client-filter.ts): an envelope's `source`, a container's name; absent for control packets. */
  readonly source?: string;
  /** A metric's or alert's `metric_type`. */
  readonly metricType?: string | undefined;
}

export function envelopeDelivery(envelope: Envelope, key: string): Delivery {
  const isContainer = envelope.type === 'container_status';
  return {
    type: envelope.type,
    json: JSON.stringify(envelope),
    // A dashboard behind on metrics needs only each series' latest value; alerts and container
    // transitions are events, and each one must arrive.
    conflationKey: envelope.type === 'system_metric' ? key : null,
    key,
    time: envelope.data.time,
    source: isContainer ? envelope.data.container : envelope.data.source,
    metricType: isContainer ? undefined : envelope.data.metric_type,
  };
}

/** Only the latest Redis state matters to a client that is behind, so state packets replace each other. */
const REDIS_STATE_KEY = 'control:redis';

export function controlDelivery(packet: ServerPacket): Delivery {
  return { type: packet.type, json: JSON.stringify(packet), conflationKey: REDIS_STATE_KEY, time: null };
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
  return {
    type: 'snapshot_end',
    json: JSON.stringify({ type: 'snapshot_end', data: { count } } satisfies SnapshotEndPacket),
    conflationKey: null,
    time: null,
  };
}

/** A source went stale or live again. Per source, only its latest state matters to a client that is behind. */
export function sourceStatusDelivery(status: SourceStatus): Delivery {
  return {
    type: 'source_status',
    json: JSON.stringify({ type: 'source_status', data: status } satisfies SourceStatusPacket),
    conflationKey: `source_status:${status.source}`,
    time: null,
  };
}

export const HEARTBEAT: readonly Delivery[] = [{ type: 'heartbeat', json: '{"type":"heartbeat"}', conflationKey: null, time: null }];

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
