import type { Envelope, ServerPacket, SnapshotEndPacket, SourceStatus, SourceStatusPacket } from '../../protocol/wire.js';
import { frameHeaderLength, writeFrameHeader } from './raw-frame.js';

/**
 * One packet on its way to clients, serialized once and shared by every client.
 * `conflationKey` says which older packet a newer one may replace for a client that is behind (over its
 * rate cap or its send buffer); `null` means never replaced (only the `snapshot_end` marker).
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
    // A client that keeps up receives every packet. One that is behind (over its rate cap or its send
    // buffer) receives each key's latest: the latest value of a series, the current state of a container
    // or of an alert. Holding every container or alert event instead would let a producer that repeats
    // them (1,500 re-announcements a second) overflow the held packets of a client that reads everything.
    conflationKey: key,
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

export const HEARTBEAT: readonly Delivery[] = [
  { type: 'heartbeat', json: '{"type":"heartbeat"}', conflationKey: 'control:heartbeat', time: null },
];

/** Largest chunk of a snapshot or backfill written at once: about this many bytes of JSON (one packet may be larger). */
export const CHUNK_BYTES = 64 * 1024;
/** Most packets in one chunk. */
export const CHUNK_PACKETS = 512;

const chunked = new WeakMap<readonly Delivery[], readonly (readonly Delivery[])[]>();

/**
 * `batch` cut into chunks of about {@link CHUNK_BYTES} of JSON, in order: what the fan-out writes to a client
 * one at a time as its socket drains. Built once per batch array (cached), so every client that receives the
 * same snapshot shares the chunks and the frames encoded for them.
 */
export function chunksOf(batch: readonly Delivery[]): readonly (readonly Delivery[])[] {
  let chunks = chunked.get(batch);
  if (chunks !== undefined) return chunks;
  const out: (readonly Delivery[])[] = [];
  let chunk: Delivery[] = [];
  let bytes = 0;
  for (const delivery of batch) {
    if (chunk.length > 0 && (bytes + delivery.json.length > CHUNK_BYTES || chunk.length >= CHUNK_PACKETS)) {
      out.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(delivery);
    bytes += delivery.json.length;
  }
  if (chunk.length > 0) out.push(chunk);
  chunks = out;
  chunked.set(batch, chunks);
  return chunks;
}

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
