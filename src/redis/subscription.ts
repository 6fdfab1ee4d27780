import type { Observable } from 'rxjs';
import { SystemStreamError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { describeEndpoint, type RedisLike } from './redis-connection.js';
import { watchRedisHealth, type RedisState } from './health.js';
import { openMessageSources, type HistoryMarks } from './message-sources.js';
import { createReadyDeadline } from './ready-deadline.js';
import { openSubscriber } from './subscriber.js';

/** The stream options the subscription reads (the rest of {@link SubscriptionOptions} is the stream's own). */
export const SUBSCRIPTION_OPTION_NAMES = [
  'redis',
  'channel',
  'channels',
  'sharded',
  'historyStream',
  'historyMs',
  'redisHealthCheckMs',
  'readyTimeoutMs',
  'maxClockSkewMs',
  'logger',
] as const;

export interface SubscriptionOptions {
  readonly redis: string | RedisLike;
  /** The first of `channels`, for logs. */
  readonly channel: string;
  /** Every channel the stream subscribes to. */
  readonly channels: readonly string[];
  /** SSUBSCRIBE instead of SUBSCRIBE. */
  readonly sharded: boolean;
  /** The Redis stream that backs the history (`historyStream`), or `null`. */
  readonly historyStream: string | null;
  readonly historyMs: number;
  /** Stamps dated further ahead than this are ignored (see `fromHistoryChannel`). Default: 300000. */
  readonly maxClockSkewMs?: number;
  /** Told where the stream may have a gap, and fed by the history stream's first load. */
  readonly history: HistoryMarks;
  readonly redisHealthCheckMs: number;
  readonly readyTimeoutMs: number;
  readonly logger: Logger;
  /** Redis can deliver again after an outage (not called for the first subscription). */
  onRestored(): void;
  /** Redis cannot deliver: called once per outage. */
  onLost(): void;
}

/** The stream's Redis side: its own subscriber connection, the channel's messages, health and `ready`. */
export interface Subscription {
  /** The channels' live messages. */
  readonly messages$: Observable<Buffer>;
  /** With a history stream: what it holds that the live messages missed (the first load, after each reconnect). */
  readonly recovered$: Observable<Buffer | string>;
  /** Messages recovered after reconnects so far. */
  readonly recoveredCount: number;
  /** Live stamps ignored as implausible so far (dated more than `maxClockSkewMs` ahead). */
  readonly ignoredStampCount: number;
  readonly ready: Promise<void>;
  readonly state: RedisState;
  /** The message stream failed for good: logged, and `ready` rejects if it is still pending. */
  fail(cause: unknown): void;
  /** Stops health checks and closes the connection (always the stream's own). */
  close(): void;
}

/**
 * Opens the subscriber (a URL, or a duplicate of the host's client: always a connection of its own) and
 * watches it. The subscriber needs SUBSCRIBE on the channel and nothing else: its health check sends PING
 * and, once Redis refuses PING to the user, re-sends SUBSCRIBE instead. A refused SUBSCRIBE never ends the
 * process: the state is `down` and it is retried with backoff. Logged once per outage.
 */
export function openSubscription(o: SubscriptionOptions): Subscription {
  const { channel, logger } = o;
  // A URL, or a duplicate of the host's client: a Redis, Sentinel-managed or not, or a Cluster.
  const redis = openSubscriber(o.redis, { sharded: o.sharded, channels: o.channels, healthCheckMs: o.redisHealthCheckMs }, logger);
  let recoveredCount = 0;
  let ignoredStampCount = 0;
  const deadline = createReadyDeadline({ timeoutMs: o.readyTimeoutMs, endpoint: describeEndpoint(redis), logger });

  let everDown = false;
  const healthOptions = { intervalMs: o.redisHealthCheckMs, fallbackProbe: () => redis.subscribe(channel), logger };
  const health = watchRedisHealth(redis, healthOptions, (state, reason) => {
    if (state === 'up') {
      // With a history stream, ready also waits for its first load (or for it to be given up).
      void sources.loaded.then(() => deadline.settle());
      if (everDown) {
        logger.info({ event: 'redis_up', channel }, 'redis subscription restored');
        o.onRestored();
      } else {
        logger.info({ event: 'subscribed', channel }, 'system stream subscribed');
      }
      everDown = false;
    } else if (state === 'down') {
      everDown = true;
      logger.error({ event: 'redis_down', channel, reason }, 'redis unavailable; clients notified with 503');
      o.onLost();
    }
  });

  const sources = openMessageSources(redis, o, o.history, {
    onSubscribed: () => health.subscribed(),
    onRefused(err, attempt) {
      health.refused();
      const message = err instanceof Error ? err.message : String(err);
      if (attempt === 1)
        logger.error({ event: 'subscribe_refused', channel, err: { message } }, 'redis refused SUBSCRIBE; retrying until it is allowed');
      deadline.settle(
        new SystemStreamError('SST_ERR_REDIS_UNAVAILABLE', `Redis refused SUBSCRIBE to ${channel}: ${message}`, { cause: err }),
      );
    },
    onRecovered: (count) => void (recoveredCount += count),
    onIgnoredStamp: () => void ignoredStampCount++,
  });

  return {
    messages$: sources.live$,
    recovered$: sources.recovered$,
    get recoveredCount() {
      return recoveredCount;
    },
    get ignoredStampCount() {
      return ignoredStampCount;
    },
    ready: deadline.promise,
    get state() {
      return health.state;
    },
    fail(cause) {
      logger.error({ event: 'subscribe_failed', err: cause, channel }, 'redis subscription failed');
      deadline.settle(new SystemStreamError('SST_ERR_REDIS_UNAVAILABLE', `Could not subscribe to ${channel}`, { cause }));
    },
    close() {
      health.stop();
      sources.close();
      deadline.settle(new SystemStreamError('SST_ERR_CLOSED', 'The stream was closed before its Redis subscription was ready'));
      redis.disconnect();
    },
  };
}
