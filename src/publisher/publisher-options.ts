// The publisher's options: the one interface, documented, and its resolution (defaults and checks, once).
import { describeValue, invalidOption } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import {
  DEFAULT_CHANNEL,
  integerMs,
  integerOption,
  loggerOption,
  MAX_TIMER_MS,
  nonEmptyString,
  optionsObject,
  type OptionNames,
} from '../shared/option-kit.js';
import { defaultRedis, redisOption, shardedOption } from '../redis/redis-options.js';
import type { RedisLike } from '../redis/redis-connection.js';
import { historyStreamKey, isScriptRunner, type HistoryTarget } from '../redis/history-script.js';

/**
 * Options for {@link createSystemPublisher}.
 * @public
 */
export interface SystemPublisherOptions {
  /**
   * Redis to publish to: a `redis://` or `rediss://` URL, or your connected ioredis client (an object
   * with `publish()`). A client you pass is used as it is and never closed by the publisher; a
   * connection opened from a URL is closed by `close()`. A URL that ioredis cannot open is refused at
   * once, without repeating the URL.
   * @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`
   */
  readonly redis?: string | RedisLike | undefined;
  /**
   * The Pub/Sub channel to publish to.
   * @defaultValue `system:metrics`
   */
  readonly channel?: string | undefined;
  /**
   * Publish with SPUBLISH (sharded Pub/Sub, Redis 7 or later) instead of PUBLISH, for a stream attached
   * with `sharded: true`: sharded subscribers never see classic PUBLISH. On a Redis Cluster, SPUBLISH goes
   * to the master that owns the channel's slot (a Cluster needs no `shardedSubscribers` to publish).
   * @defaultValue `false`
   */
  readonly sharded?: boolean | undefined;
  /**
   * Longest wait for one publish, including waiting for Redis to (re)connect, in whole milliseconds
   * from 1 to 2147482647 (Node's longest timer less the 1 s added for the socket timeout). Past it the
   * call rejects with `SST_ERR_REDIS_UNAVAILABLE`; nothing is queued for later.
   * @defaultValue `2000`
   */
  readonly publishTimeoutMs?: number | undefined;
  /**
   * Also keep every message in a capped Redis Stream, from which streams attached with the same
   * `historyStream` recover what their subscriber missed while it reconnected, and load their history at
   * start. Each publish then runs one Lua script (EVALSHA) that adds the message to the stream and
   * publishes it stamped with the entry's ID (`<id> <json>`), atomically: if the XADD fails, nothing is
   * published. `true` uses `historyStreamKey(channel)` (`{system:metrics}:history`); a string names another
   * key. A client you pass must have `evalsha()` and `eval()` (ioredis does); a least-privilege user needs
   * `+evalsha +eval +xadd +publish`, the channel and the stream's key.
   * @defaultValue `false`: plain PUBLISH
   */
  readonly historyStream?: boolean | string | undefined;
  /**
   * The history stream's cap in entries (`XADD … MAXLEN ~`; Redis keeps a little more). Size it to hold
   * the stream's `historyMs` of messages: a message is one PUBLISH, so a batch counts once. Redis needs
   * about 0.3 KB per entry of one metric, more for batches.
   * @defaultValue `10000`
   */
  readonly historyMaxLen?: number | undefined;
  /**
   * The largest Redis message the stream's servers accept (their `maxMessageBytes`, whose default this is),
   * in bytes of JSON, an integer of at least 64. A batch larger than this is published as several
   * consecutive batches, in order, each within the limit (so the server does not drop it as too large); an
   * envelope that alone is larger rejects with {@link SystemStreamValidationError} and nothing is sent.
   * @defaultValue `65536`
   */
  readonly maxMessageBytes?: number | undefined;
  /**
   * A pino-compatible logger. The Redis URL is never logged.
   * @defaultValue silent
   */
  readonly logger?: Logger | undefined;
}

const OPTION_NAMES: OptionNames<SystemPublisherOptions> = {
  redis: true,
  channel: true,
  sharded: true,
  publishTimeoutMs: true,
  historyStream: true,
  historyMaxLen: true,
  maxMessageBytes: true,
  logger: true,
};
const DEFAULT_PUBLISH_TIMEOUT_MS = 2000;
const DEFAULT_HISTORY_MAX_LEN = 10_000;
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** Applies defaults and checks every option; throws `SST_ERR_INVALID_OPTION` naming the option. @internal */
export function resolvePublisherOptions(options: SystemPublisherOptions | undefined): {
  readonly redis: string | RedisLike;
  readonly channel: string;
  readonly sharded: boolean;
  readonly publishTimeoutMs: number;
  /** Where messages are also kept; `null`: plain PUBLISH. */
  readonly historyStream: HistoryTarget | null;
  readonly maxMessageBytes: number;
  readonly logger: Logger;
} {
  const input = optionsObject(options, OPTION_NAMES, 'createSystemPublisher');
  const redis = redisOption(input.redis ?? defaultRedis(), 'publisher');
  const channel = nonEmptyString('channel', input.channel ?? DEFAULT_CHANNEL);
  const maxLen = integerOption('historyMaxLen', input.historyMaxLen ?? DEFAULT_HISTORY_MAX_LEN, { min: 1 });
  let history: HistoryTarget | null = null;
  if (input.historyStream !== undefined && input.historyStream !== false) {
    if (input.historyStream !== true && (typeof input.historyStream !== 'string' || input.historyStream.length === 0)) {
      throw invalidOption(
        `Expected \`historyStream\` to be true, false or a non-empty stream key, got ${describeValue(input.historyStream)}`,
      );
    }
    if (typeof redis !== 'string' && !isScriptRunner(redis)) {
      throw invalidOption(
        '`historyStream` runs a Lua script: the `redis` client given needs evalsha() and eval() (ioredis has them; the in-process bus keeps no stream)',
      );
    }
    history = { channel, streamKey: input.historyStream === true ? historyStreamKey(channel) : input.historyStream, maxLen };
  }
  const sharded = shardedOption(input.sharded, redis, 'publisher');
  if (history !== null && sharded) history = { ...history, command: 'SPUBLISH' };
  return {
    redis,
    channel,
    sharded,
    historyStream: history,
    // An owned connection's socket timeout is publishTimeoutMs + 1000 ms, which
    // must stay a valid timer too.
    publishTimeoutMs: integerMs('publishTimeoutMs', input.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS, {
      min: 1,
      max: MAX_TIMER_MS - 1000,
    }),
    maxMessageBytes: integerOption('maxMessageBytes', input.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, { min: 64 }),
    logger: loggerOption(input.logger),
  };
}
