import { HANDSHAKE_OUTCOMES, type HandshakeOutcome } from './handshake/outcomes.js';
import { INVALID_REASONS, type InvalidReason } from './pipeline.js';
import { ENVELOPE_TYPES, type EnvelopeType } from '../protocol/wire.js';
import type { RedisState } from '../redis/health.js';

/**
 * A point-in-time view of a stream's counters. Counters only grow, from `attachSystemStream` on.
 * @public
 */
export interface SystemStreamStats {
  /** WebSocket clients connected now. */
  readonly clients: number;
  /** Redis messages received on the channel. */
  readonly received: number;
  /**
   * Messages delivered from the Redis-backed history (`historyStream`) after the subscriber reconnected:
   * those published while it was away, which Pub/Sub never delivered, and those that arrived live while
   * it was reading them (each is delivered once). The load at start does not count.
   */
  readonly recovered: number;
  /** Envelopes that passed validation (a batch counts each member). */
  readonly valid: number;
  /** Redis messages or batch members dropped as invalid: too large, not JSON, or failing the schema. */
  readonly invalid: number;
  /** Envelopes replaced by a newer value of the same key within a throttle window. */
  readonly throttled: number;
  /** Packets replaced or dropped for a client that was behind (slow socket or over its rate cap). */
  readonly conflated: number;
  /** Packets written to clients, counted per client. */
  readonly delivered: number;
  /**
   * Bytes of the frames written to clients as they would be uncompressed, and as written (after
   * permessage-deflate, for the clients that negotiated it): `bytesWritten / bytesBeforeCompression` is the
   * share of the bytes compression left. Frames ws builds itself (close, ping) are not counted.
   */
  readonly bytesBeforeCompression: number;
  /** See {@link SystemStreamStats.bytesBeforeCompression}. */
  readonly bytesWritten: number;
  /** `bytesWritten / bytesBeforeCompression`: 1 while nothing was compressed (or nothing written). */
  readonly compressionRatio: number;
  /** Handshakes refused (400, 401, 403, 500, 503). */
  readonly rejected: number;
  /** Clients closed for not reading (`CloseCode.SlowConsumer`). */
  readonly slowClientsClosed: number;
  /** Clients terminated for not answering a heartbeat ping. */
  readonly deadClientsTerminated: number;
  /**
   * Snapshots or `?since=` backfills cut because their client could not take them all: it got each key's
   * latest value and `snapshot_end` with `complete: false`.
   */
  readonly backfillsCut: number;
  /** Connections closed because their credentials expired (`CloseCode.CredentialsExpired`, 4440). */
  readonly sessionsExpired: number;
  /** Connections closed because `setApiKeys()` removed the key they were accepted with (4401). */
  readonly sessionsRevoked: number;
  /**
   * Live messages whose `historyStream` stamp was dated implausibly far ahead (a producer's fake, or a Redis
   * clock that was wrong): the stamp was ignored and the message passed as unstamped.
   */
  readonly ignoredStamps: number;
  /** The subscriber's state. */
  readonly redis: RedisState;
}

/** The mutable counters behind {@link SystemStreamStats}. */
export type StreamCounters = {
  -readonly [K in Exclude<keyof SystemStreamStats, 'clients' | 'redis' | 'compressionRatio' | 'recovered' | 'ignoredStamps'>]: number;
};

/** What the subscriber counts itself, and its state. */
interface SubscriberCounts {
  readonly recoveredCount: number;
  readonly ignoredStampCount: number;
  readonly state: RedisState;
}

/** The stats of a stream: its counters, the subscriber's, the compression ratio, and the current state. */
export function statsOf(counters: StreamCounters, subscriber: SubscriberCounts, clients: number): SystemStreamStats {
  const { bytesWritten, bytesBeforeCompression } = counters;
  return {
    ...counters,
    recovered: subscriber.recoveredCount,
    ignoredStamps: subscriber.ignoredStampCount,
    clients,
    redis: subscriber.state,
    compressionRatio: bytesBeforeCompression === 0 ? 1 : bytesWritten / bytesBeforeCompression,
  };
}

export function createCounters(): StreamCounters {
  return {
    received: 0,
    valid: 0,
    invalid: 0,
    throttled: 0,
    conflated: 0,
    delivered: 0,
    bytesBeforeCompression: 0,
    bytesWritten: 0,
    rejected: 0,
    slowClientsClosed: 0,
    deadClientsTerminated: 0,
    backfillsCut: 0,
    sessionsExpired: 0,
    sessionsRevoked: 0,
  };
}

/**
 * Counts by label that {@link SystemStreamStats} does not show, for the Prometheus metrics. Plain
 * numbers, kept whether metrics are on or not: an increment per message or handshake costs nothing
 * next to the work around it, and the metrics read them at scrape time.
 */
export interface LabelledCounters {
  /** Handshakes on the stream's path by outcome. */
  readonly handshakes: Record<HandshakeOutcome, number>;
  /** Valid envelopes by type (a batch counts each member); they add up to `valid`. */
  readonly envelopes: Record<EnvelopeType, number>;
  /** Invalid messages or batch members by reason; they add up to `invalid`. */
  readonly invalid: Record<InvalidReason, number>;
  /** Times the subscriber came back up after an outage. */
  redisReconnects: number;
}

const zeros = <K extends string>(keys: readonly K[]): Record<K, number> => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export function createLabelledCounters(): LabelledCounters {
  return {
    handshakes: zeros(HANDSHAKE_OUTCOMES),
    envelopes: zeros(ENVELOPE_TYPES),
    invalid: zeros(INVALID_REASONS),
    redisReconnects: 0,
  };
}
