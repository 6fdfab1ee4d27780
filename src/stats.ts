import type { RedisState } from './redis/health.js';

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
  /** Handshakes refused (401, 403, 400, 503). */
  readonly rejected: number;
  /** Clients closed for not reading (`CloseCode.SlowConsumer`). */
  readonly slowClientsClosed: number;
  /** Clients terminated for not answering a heartbeat ping. */
  readonly deadClientsTerminated: number;
  /** The subscriber's state. */
  readonly redis: RedisState;
}

/** The mutable counters behind {@link SystemStreamStats}. */
export type StreamCounters = { -readonly [K in Exclude<keyof SystemStreamStats, 'clients' | 'redis'>]: number };

export function createCounters(): StreamCounters {
  return {
    received: 0,
    recovered: 0,
    valid: 0,
    invalid: 0,
    throttled: 0,
    conflated: 0,
    delivered: 0,
    rejected: 0,
    slowClientsClosed: 0,
    deadClientsTerminated: 0,
  };
}
