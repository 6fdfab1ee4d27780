import { Redis, type RedisOptions } from 'ioredis';

/**
 * The part of an ioredis client that system-stream uses when you pass your own. Typed structurally
 * so that a host's own copy of ioredis fits.
 * @public
 */
export interface RedisLike {
  /** Opens a new connection with the same settings, plus `override`. */
  duplicate(override?: object): unknown;
  /** Publishes `message` to `channel`; resolves with the number of receivers. */
  publish(channel: string, message: string): Promise<number>;
}

/** @internal */
export function isRedisLike(value: unknown): value is RedisLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RedisLike).duplicate === 'function' &&
    typeof (value as RedisLike).publish === 'function'
  );
}

/**
 * Subscriber settings. Commands wait for a reconnect instead of failing (`maxRetriesPerRequest: null`),
 * and reconnects are retried at most 500 ms apart so that live data resumes within a second of Redis
 * coming back (ioredis 6's default backoff grows to 5 s).
 */
export const SUBSCRIBER_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: null,
  enableOfflineQueue: true,
  autoResubscribe: true,
  retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 500),
  connectionName: 'system-stream:subscriber',
};

/**
 * Opens a new connection: from a URL, or as a duplicate of the host's client. Either way the caller
 * owns the result and must close it.
 */
export function openRedisConnection(source: string | RedisLike, options: RedisOptions): Redis {
  return typeof source === 'string' ? new Redis(source, options) : (source.duplicate(options) as Redis);
}
