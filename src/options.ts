import type { IncomingMessage } from 'node:http';
import { describeValue, invalidOption } from './errors.js';
import { noopLogger, type Logger } from './logger.js';
import { ENVELOPE_TYPES, type EnvelopeType } from './protocol.js';
import { isRedisLike, type RedisLike } from './redis/connection.js';

/**
 * What an `authenticate` hook may grant beyond `true`: a narrower view of the stream.
 * @public
 */
export interface AuthGrant {
  /** Envelope types this client may receive. Default: all. */
  readonly types?: readonly EnvelopeType[];
}

/**
 * Decides whether a handshake (or a snapshot request) is allowed. Return `false` to refuse with 401.
 * A thrown error or rejected promise refuses with 500 and is logged.
 * @public
 */
export type Authenticate = (req: IncomingMessage) => boolean | AuthGrant | Promise<boolean | AuthGrant>;

/**
 * Options for {@link attachSystemStream}. Every field is optional but one of `apiKeys`,
 * `authenticate` or `auth: false` must be given.
 * @public
 */
export interface SystemStreamOptions {
  /**
   * Redis to subscribe with: a URL, or a connected ioredis client, which the stream `duplicate()`s for
   * its subscriber (it closes only the copy, never your client).
   * @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`
   */
  readonly redis?: string | RedisLike;
  /**
   * The HTTP path WebSocket clients connect to. Upgrades on other paths are left to other listeners.
   * @defaultValue `/api/system/ws`
   */
  readonly path?: string;
  /**
   * The Redis Pub/Sub channel producers publish to.
   * @defaultValue `system:metrics`
   */
  readonly channel?: string;
  /**
   * Accepted API keys. A client sends one in the `api_key` query parameter, the `x-api-key` header
   * or `Authorization: Bearer`. Compared in constant time; never logged.
   */
  readonly apiKeys?: readonly string[];
  /** Custom authentication, e.g. a session cookie. A request passes when it has a valid API key or this hook allows it. */
  readonly authenticate?: Authenticate;
  /**
   * Set to `false` to serve without authentication. Required when neither `apiKeys` nor
   * `authenticate` is given: the stream is secure by default.
   */
  readonly auth?: false;
  /**
   * If set, handshakes whose `Origin` header is not in this list (exact match) are refused with 403.
   * Requests without an `Origin` (non-browser clients) pass. Use it when `authenticate` trusts cookies.
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Most WebSocket clients served at once; the next handshake gets HTTP 503 with `Retry-After`.
   * @defaultValue `100`
   */
  readonly maxClients?: number;
  /**
   * Shortest gap between two deliveries of the same key (a metric series, a container's unchanged
   * status). The first message of a quiet key goes out at once, the latest value of a busy key at the
   * end of its window. Alerts and container status changes are never throttled. `0` turns it off.
   * A value held for the end of its window is at most this old when it is sent, so the default keeps
   * every delivery inside the spec's 100 ms budget while capping each key at 20 updates per second.
   * @defaultValue `50`
   */
  readonly throttleMs?: number;
  /**
   * Per-client cap on envelopes per second (a token bucket holding one second's worth). Past it, the
   * client's updates are conflated to the latest per key until the bucket refills.
   * @defaultValue `1000`
   */
  readonly maxMessagesPerSecond?: number;
  /**
   * A client whose unsent bytes exceed this receives nothing new until it drains; meanwhile its
   * updates are conflated to the latest per key, so server memory per client stays bounded.
   * @defaultValue `1048576` (1 MiB)
   */
  readonly maxBufferedBytes?: number;
  /**
   * A client that stays over `maxBufferedBytes` this long is closed with `CloseCode.SlowConsumer` (4429).
   * @defaultValue `10000`
   */
  readonly slowClientTimeoutMs?: number;
  /**
   * Interval of WebSocket pings (a client that has not answered the previous ping is terminated) and of
   * the `heartbeat` packet, which lets clients that cannot see pings (browsers) detect a dead connection.
   * @defaultValue `30000`
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * Interval of the Redis health PING on the subscriber; a PING unanswered for this long marks Redis
   * down (a hung server) and forces a reconnect.
   * @defaultValue `1000`
   */
  readonly redisHealthCheckMs?: number;
  /**
   * Longest wait for Redis at start: past it `stream.ready` rejects with `SST_ERR_REDIS_UNAVAILABLE`,
   * while the stream keeps retrying and recovers by itself. `0` waits for as long as it takes. Either way,
   * a stream still waiting after 2 s logs at `warn` where it waits (host and port, never credentials).
   * @defaultValue `10000`
   */
  readonly readyTimeoutMs?: number;
  /**
   * Largest Redis message accepted, in bytes; larger ones are dropped as invalid.
   * @defaultValue `65536`
   */
  readonly maxMessageBytes?: number;
  /**
   * Most keys kept for the snapshot; past it the least recently updated key is forgotten.
   * @defaultValue `10000`
   */
  readonly maxSnapshotKeys?: number;
  /**
   * A pino-compatible logger.
   * @defaultValue silent
   */
  readonly logger?: Logger;
}

/** {@link SystemStreamOptions} after defaults and checks. @internal */
export interface ResolvedOptions {
  readonly redis: string | RedisLike;
  readonly path: string;
  readonly channel: string;
  readonly apiKeys: readonly string[];
  readonly authenticate: Authenticate | undefined;
  readonly authRequired: boolean;
  readonly allowedOrigins: ReadonlySet<string> | undefined;
  readonly maxClients: number;
  readonly throttleMs: number;
  readonly maxMessagesPerSecond: number;
  readonly maxBufferedBytes: number;
  readonly slowClientTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly redisHealthCheckMs: number;
  readonly readyTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly maxSnapshotKeys: number;
  readonly logger: Logger;
}

/** The largest API key accepted, in bytes. Longer presented keys are refused before hashing. */
export const MAX_API_KEY_BYTES = 512;

const DEFAULTS = {
  path: '/api/system/ws',
  channel: 'system:metrics',
  maxClients: 100,
  throttleMs: 50,
  maxMessagesPerSecond: 1000,
  maxBufferedBytes: 1024 * 1024,
  slowClientTimeoutMs: 10_000,
  heartbeatIntervalMs: 30_000,
  redisHealthCheckMs: 1000,
  readyTimeoutMs: 10_000,
  maxMessageBytes: 64 * 1024,
  maxSnapshotKeys: 10_000,
} as const;


function number(input: Record<string, unknown>, name: keyof typeof DEFAULTS, min: number, integer = true): number {
  const value = input[name] ?? DEFAULTS[name];
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || (integer && !Number.isInteger(value) && value !== Infinity)) {
    throw invalidOption(`Expected \`${name}\` to be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${describeValue(value)}`);
  }
  return value;
}

function stringList(value: unknown, name: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) {
    throw invalidOption(`Expected \`${name}\` to be an array of non-empty strings`);
  }
  return Object.freeze([...value]);
}

/**
 * Applies defaults and checks every option once; throws `SST_ERR_INVALID_OPTION` naming the option.
 * Secrets (API keys, the Redis URL) never appear in the messages.
 */
export function resolveOptions(input: SystemStreamOptions = {}): ResolvedOptions {
  if (typeof input !== 'object' || input === null) throw invalidOption(`Expected options to be an object, got ${describeValue(input)}`);
  const raw = input as Record<string, unknown>;

  const redis = input.redis ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\//.test(redis)) throw invalidOption('Expected `redis` to be a redis:// or rediss:// URL or an ioredis client');
  } else if (!isRedisLike(redis)) {
    throw invalidOption('Expected `redis` to be a redis:// URL or an ioredis client (an object with duplicate())');
  }

  const path = input.path ?? DEFAULTS.path;
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw invalidOption(`Expected \`path\` to be a URL path starting with "/", got ${describeValue(path)}`);
  }
  const channel = input.channel ?? DEFAULTS.channel;
  if (typeof channel !== 'string' || channel.length === 0) {
    throw invalidOption(`Expected \`channel\` to be a non-empty string, got ${describeValue(channel)}`);
  }

  const apiKeys = stringList(input.apiKeys, 'apiKeys') ?? [];
  if (apiKeys.some((k) => Buffer.byteLength(k) > MAX_API_KEY_BYTES)) {
    throw invalidOption(`Expected every API key in \`apiKeys\` to be at most ${MAX_API_KEY_BYTES} bytes`);
  }
  if (input.authenticate !== undefined && typeof input.authenticate !== 'function') {
    throw invalidOption(`Expected \`authenticate\` to be a function, got ${describeValue(input.authenticate)}`);
  }
  if (input.auth !== undefined && input.auth !== false) {
    throw invalidOption(`Expected \`auth\` to be false or left out, got ${describeValue(input.auth)}. Pass \`apiKeys\` or \`authenticate\` to require authentication.`);
  }
  const hasAuth = apiKeys.length > 0 || input.authenticate !== undefined;
  if (!hasAuth && input.auth !== false) {
    throw invalidOption('No authentication configured: pass `apiKeys` or `authenticate`, or `auth: false` to serve without it');
  }
  if (hasAuth && input.auth === false) {
    throw invalidOption('`auth: false` contradicts `apiKeys`/`authenticate`: remove one of them');
  }
  const origins = stringList(input.allowedOrigins, 'allowedOrigins');

  if (input.logger !== undefined) {
    const l = input.logger as unknown as Record<string, unknown>;
    if (!['debug', 'info', 'warn', 'error'].every((m) => typeof l?.[m] === 'function')) {
      throw invalidOption('Expected `logger` to have debug, info, warn and error methods (pino-compatible)');
    }
  }

  return Object.freeze({
    redis,
    path,
    channel,
    apiKeys,
    authenticate: input.authenticate,
    authRequired: hasAuth,
    allowedOrigins: origins && new Set(origins),
    maxClients: number(raw, 'maxClients', 1),
    throttleMs: number(raw, 'throttleMs', 0),
    maxMessagesPerSecond: number(raw, 'maxMessagesPerSecond', 1),
    maxBufferedBytes: number(raw, 'maxBufferedBytes', 1024),
    slowClientTimeoutMs: number(raw, 'slowClientTimeoutMs', 1),
    heartbeatIntervalMs: number(raw, 'heartbeatIntervalMs', 10),
    redisHealthCheckMs: number(raw, 'redisHealthCheckMs', 10),
    readyTimeoutMs: number(raw, 'readyTimeoutMs', 0),
    maxMessageBytes: number(raw, 'maxMessageBytes', 64),
    maxSnapshotKeys: number(raw, 'maxSnapshotKeys', 0),
    logger: input.logger ?? noopLogger,
  });
}

/** Checks the `types` an {@link AuthGrant} or a `?types=` query names. @internal */
export function isEnvelopeType(value: string): value is EnvelopeType {
  return (ENVELOPE_TYPES as readonly string[]).includes(value);
}
