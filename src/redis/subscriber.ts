import { EventEmitter } from 'node:events';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import type { ChannelConnection } from './channel-source.js';
import { ClusterSubscription } from './cluster-subscription.js';
import { isClusterClient, openRedisConnection, type RedisLike } from './redis-connection.js';
import type { HealthConnection } from './health.js';

/**
 * The stream's subscriber: what the channel source ({@link ChannelConnection}) and the health watcher
 * ({@link HealthConnection}) use, whatever the topology.
 */
export interface SubscriberConnection {
  readonly status: string;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  ping(): Promise<unknown>;
  disconnect(reconnect?: boolean): void;
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown;
  on(event: 'ready' | 'close', listener: () => void): unknown;
  off(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown;
  off(event: 'ready' | 'close', listener: () => void): unknown;
}

export interface SubscriberOptions {
  /** SSUBSCRIBE instead of SUBSCRIBE (messages arrive as `smessageBuffer`). */
  readonly sharded: boolean;
  /** Every channel the stream subscribes to. */
  readonly channels: readonly string[];
  /** The health check's interval: a Cluster's subscriber connection not ready within twice this is replaced. */
  readonly healthCheckMs: number;
}

/**
 * Opens the stream's subscriber from a URL or a duplicate of the host's client (see `openRedisConnection`):
 * a standalone or Sentinel-managed Redis as it is (wrapped to speak SSUBSCRIBE when sharded), a Cluster as
 * a {@link ClusterSubscription}. The caller owns it and closes it with `disconnect()`.
 */
export function openSubscriber(source: string | RedisLike, options: SubscriberOptions, logger: Logger): SubscriberConnection {
  const connection = openRedisConnection(source, 'subscriber', logger, isSentinelClient(source) ? SENTINEL_SUBSCRIBER_OPTIONS : {});
  if (isClusterClient(connection)) {
    const { sharded, channels, healthCheckMs } = options;
    return new ClusterSubscription(connection as unknown as Cluster, {
      sharded,
      channels,
      connectTimeoutMs: Math.max(2 * healthCheckMs, 1000),
    });
  }
  return options.sharded ? new ShardedSubscription(connection) : connection;
}

/**
 * Settings added to the subscriber of a Sentinel-managed Redis. After a primary dies, each reconnect
 * asks the Sentinels for the primary again; until they have promoted a replica (about 2 s after the kill
 * with `down-after-milliseconds 1000`) they name the dead one. Retrying every 100 ms (instead of backing
 * off to 500 ms) picks up the new primary within 100 ms of the switch, which keeps the gap under 3 s.
 */
const SENTINEL_SUBSCRIBER_OPTIONS: RedisOptions = { retryStrategy: () => 100 };

function isSentinelClient(source: string | RedisLike): boolean {
  if (typeof source === 'string' || !('options' in source)) return false;
  const options = (source as { options?: { sentinels?: unknown } }).options;
  return Array.isArray(options?.sentinels) && options.sentinels.length > 0;
}

/** The SUBSCRIBE events of a standalone Redis, under the names sharded Pub/Sub uses. */
const SHARDED_EVENTS: Readonly<Record<string, string>> = { messageBuffer: 'smessageBuffer' };

/**
 * A standalone (or Sentinel-managed) Redis 7 connection subscribed with SSUBSCRIBE: `subscribe` sends
 * SSUBSCRIBE, and `messageBuffer` listeners receive `smessageBuffer`. Everything else is the connection's.
 */
class ShardedSubscription extends EventEmitter implements SubscriberConnection {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    super();
    this.#redis = redis;
  }

  /** Where it connects, for logs (see `describeEndpoint`). */
  get options(): RedisOptions {
    return this.#redis.options;
  }

  get status(): string {
    return this.#redis.status;
  }

  subscribe(channel: string): Promise<unknown> {
    return this.#redis.ssubscribe(channel);
  }

  unsubscribe(channel: string): Promise<unknown> {
    return this.#redis.sunsubscribe(channel);
  }

  ping(): Promise<unknown> {
    return this.#redis.ping();
  }

  disconnect(reconnect?: boolean): void {
    this.#redis.disconnect(reconnect);
  }

  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    this.#redis.on(typeof event === 'string' ? (SHARDED_EVENTS[event] ?? event) : event, listener as (...args: unknown[]) => void);
    return this;
  }

  override off(event: string | symbol, listener: (...args: never[]) => void): this {
    this.#redis.off(typeof event === 'string' ? (SHARDED_EVENTS[event] ?? event) : event, listener as (...args: unknown[]) => void);
    return this;
  }
}
