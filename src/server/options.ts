// The stream's options: the one documented interface (most of this file is its TSDoc, which the API report
// and editors show) and resolveOptions(), which checks every option once with the option kit. One job,
// kept together so that a field and its check are reviewed side by side.
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { describeValue, invalidOption } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { MetricsRegistry } from './http/metrics.js';
import {
  channelList,
  DEFAULT_CHANNEL,
  functionOption,
  integerMs,
  integerOption,
  loggerOption,
  oneOf,
  numberOption,
  optionsObject,
  stringList,
  type OptionNames,
} from '../shared/option-kit.js';
import { defaultRedis, redisOption, shardedOption } from '../redis/redis-options.js';
import type { EnvelopeType } from '../protocol/wire.js';
import { apiKeysOption } from './handshake/api-keys.js';
import { jwtOption, type ResolvedJwt } from './handshake/jwt.js';
import { compressionOption, type CompressionOptions } from './fanout/compression-options.js';
import type { DeflateSettings } from './fanout/shared-deflate.js';
import type { RedisLike } from '../redis/redis-connection.js';
import { historyStreamKey } from '../redis/history-script.js';

/**
 * What an `authenticate` hook may grant beyond `true`: a narrower view of the stream.
 * @public
 */
export interface AuthGrant {
  /** Envelope types this client may receive (an array is required: an object without it is a refusal). */
  readonly types: readonly EnvelopeType[];
  /**
   * If given, the only sources this client may receive: a metric's or alert's `source`, a container's name,
   * matched as the handshake's `?source=` is (equal, or the host part of the sentinel's `<host>:<mount>` and
   * `<host>/<container>` names). What the client asks for with `?source=` is narrowed by this, never widened.
   * Anything but an array of strings is a refusal.
   * @defaultValue every source
   */
  readonly sources?: readonly string[] | undefined;
  /**
   * When this grant ends, in milliseconds since the epoch or as a `Date`: a WebSocket let in with it is
   * closed then with `CloseCode.CredentialsExpired` (4440), which tells the client to renew its
   * credentials and reconnect. A time already past, or anything but a finite number or valid Date, is a refusal.
   * @defaultValue the grant lasts as long as the connection
   */
  readonly expiresAt?: number | Date | undefined;
}

/**
 * The `jwt` option: JSON Web Tokens as credentials. Give exactly one of `secret` and `publicKey`.
 * @public
 */
export interface JwtOptions {
  /** The shared secret of HS256, HS384 and HS512 tokens (a string is taken as UTF-8), at least 32 bytes. */
  readonly secret?: string | Uint8Array | undefined;
  /**
   * The public key of RS256/384/512 and PS256/384/512 (RSA), ES256/384/512 (EC P-256/384/521) or EdDSA
   * (Ed25519) tokens: a PEM string (`-----BEGIN PUBLIC KEY-----`) or a `KeyObject`.
   */
  readonly publicKey?: string | KeyObject | undefined;
  /**
   * The algorithms accepted; each must suit the key (an HMAC algorithm for `secret`, the key's own family
   * for `publicKey`), so a token cannot choose another (`alg: none`, or an HMAC keyed with the public key).
   * @defaultValue every algorithm of the key's family
   */
  readonly algorithms?: readonly string[] | undefined;
  /** If set, the `iss` claim must equal it (or one of them). @defaultValue not checked */
  readonly issuer?: string | readonly string[] | undefined;
  /** If set, the `aud` claim must contain it (or one of them). @defaultValue not checked */
  readonly audience?: string | readonly string[] | undefined;
  /**
   * Clock skew allowed between the token's issuer and this server when `exp` and `nbf` are checked, in
   * milliseconds (0 to 600000). A connection lasts until `exp` plus this.
   * @defaultValue `0`
   */
  readonly clockToleranceMs?: number | undefined;
}

/**
 * Decides whether a handshake (or a snapshot request) is allowed. It receives the raw HTTP request
 * (for the WebSocket, the upgrade request: Express middleware has not run on it).
 *
 * Fail closed: only `true`, or an object whose `types` is an array ({@link AuthGrant}; its `sources`, if
 * present, an array of strings; its `expiresAt`, if present, a time still ahead), grants. Anything
 * else (`false`, `undefined`, `[]`, `{}`, `{ ok: false }`, a number) refuses with 401. A returned
 * promise or any other thenable is awaited; a thrown error or rejection refuses with 500 and is logged;
 * one that has not settled after `authenticateTimeoutMs` refuses with 503.
 * @public
 */
export type Authenticate = (req: IncomingMessage) => boolean | AuthGrant | PromiseLike<boolean | AuthGrant>;

/**
 * Options for {@link attachSystemStream}. Every field is optional but one of `apiKeys`, `jwt`,
 * `authenticate` or `auth: false` must be given. An option set to `undefined` takes its default, so
 * values read from the environment can be passed as they are. An option name the stream does not know
 * is refused (`SST_ERR_INVALID_OPTION`, with the closest known name), never ignored.
 * @public
 */
export interface SystemStreamOptions {
  /**
   * Redis to subscribe with: a `redis://` or `rediss://` URL, or a connected ioredis client, which the
   * stream `duplicate()`s for its subscriber (it closes only the copy, never your client). A URL that
   * ioredis cannot open (a bad IPv6 bracket, a port above 65535, a malformed `%` escape) is refused at
   * once; the error never repeats the URL.
   *
   * The client may be a standalone `Redis`, a `Redis` in Sentinel mode (`{ sentinels, name }`: the copy
   * follows failovers), or an ioredis `Cluster`: the copy keeps your startup nodes and settings and takes
   * the subscriber's (its retry, offline queue and connection name), and the health check PINGs the node
   * the subscription lives on, so a dead or hung subscriber node is noticed.
   * @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`
   */
  readonly redis?: string | RedisLike | undefined;
  /**
   * The HTTP path WebSocket clients connect to. Upgrades on other paths are left to other listeners.
   * @defaultValue `/api/system/ws`
   */
  readonly path?: string | undefined;
  /**
   * The Redis Pub/Sub channel producers publish to, or a list of distinct channels: the stream subscribes
   * to each (with `sharded`, one SSUBSCRIBE per channel, since the channels of one call must share a
   * slot) and serves their messages as one stream. Several channels spread a fleet's traffic over the
   * shards of a Redis Cluster, e.g. one channel per group of monitored hosts.
   * @defaultValue `system:metrics`
   */
  readonly channel?: string | readonly string[] | undefined;
  /**
   * Subscribe with sharded Pub/Sub (SSUBSCRIBE, Redis 7 or later) instead of SUBSCRIBE. On a Redis
   * Cluster a sharded channel lives on the shard that owns its slot, so messages are not relayed to every
   * node as classic PUBLISH is; producers must then SPUBLISH (`createSystemPublisher({ sharded: true })`),
   * since sharded subscribers never see classic PUBLISH and classic ones never see SPUBLISH. An ioredis
   * `Cluster` passed as `redis` must have been created with `shardedSubscribers: true`; one without it
   * is refused (`SST_ERR_INVALID_OPTION`).
   * @defaultValue `false`
   */
  readonly sharded?: boolean | undefined;
  /**
   * Accepted API keys, each 1 to 512 bytes. A client sends one in the `api_key` query parameter, the
   * `x-api-key` header, `Authorization: Bearer` or the `system-stream.key.…` subprotocol. Compared in
   * constant time; never logged. Replace them at runtime with `stream.setApiKeys()`.
   * @defaultValue none: give this, `jwt`, `authenticate`, or `auth: false`
   */
  readonly apiKeys?: readonly string[] | undefined;
  /**
   * Accept JSON Web Tokens, presented wherever an API key may be. A credential with the shape of a JWT
   * (three base64url parts) that is not one of `apiKeys` is verified: its signature, `exp` (required),
   * `nbf`, and `iss`/`aud` when configured. Its optional `types` and `sources` claims (arrays of strings)
   * narrow what the client receives, as an {@link AuthGrant} does. A WebSocket let in with a token is closed
   * when `exp` passes, with `CloseCode.CredentialsExpired` (4440). `jose` is loaded only when this is set.
   * `apiKeys`, `jwt` and `authenticate` combine: a request passes with any one of them.
   * @defaultValue none
   */
  readonly jwt?: JwtOptions | undefined;
  /**
   * Custom authentication, e.g. a session cookie. A request passes when it presents one valid API key
   * or this hook grants it (see {@link Authenticate} for what counts as a grant).
   * @defaultValue none
   */
  readonly authenticate?: Authenticate | undefined;
  /**
   * Longest wait for `authenticate` to settle; past it the handshake (or snapshot request) is answered
   * 503, and the hook's late answer is ignored.
   * @defaultValue `5000`
   */
  readonly authenticateTimeoutMs?: number | undefined;
  /**
   * Most requests waiting on an asynchronous `authenticate` at once; past it new ones get 503 at once,
   * so a hook that hangs cannot pile up sockets.
   * @defaultValue `100`
   */
  readonly maxPendingAuthentications?: number | undefined;
  /**
   * Set to `false` to serve without authentication. Required when neither `apiKeys` nor
   * `authenticate` is given: the stream is secure by default.
   * @defaultValue authentication required
   */
  readonly auth?: false | undefined;
  /**
   * If set, handshakes whose `Origin` header is not in this list (exact match) are refused with 403.
   * Requests without an `Origin` (non-browser clients) pass. Use it when `authenticate` trusts cookies.
   * @defaultValue every origin
   */
  readonly allowedOrigins?: readonly string[] | undefined;
  /**
   * Most WebSocket clients served at once (an integer, at least 1); the next handshake gets HTTP 503 with `Retry-After`.
   * @defaultValue `100`
   */
  readonly maxClients?: number | undefined;
  /**
   * Shortest gap between two deliveries of the same key (a metric series, a container's unchanged
   * status), in whole milliseconds from 0 to 2147483647. The first message of a quiet key goes out at
   * once, the latest value of a busy key at the end of its window. Alerts and container status changes
   * are never throttled. `0` turns throttling off: every message is delivered.
   * A value held for the end of its window is at most this old when it is sent, so the default keeps
   * every delivery inside the spec's 100 ms budget while capping each key at 20 updates per second.
   * @defaultValue `50`
   */
  readonly throttleMs?: number | undefined;
  /**
   * Collects what arrives for this long (after the first message) and writes it to each client in one
   * socket write, on one shared timer. `0` writes what arrived in one event-loop turn at once. A delay
   * saves CPU where messages arrive spread out (about half the CPU per delivery at 1,000 clients and
   * 50 msg/s with 50 ms) and adds at most itself to every delivery's latency: keep throttle + delay
   * inside your latency budget (the original design's is 100 ms).
   * @defaultValue `0`
   */
  readonly writeDelayMs?: number | undefined;
  /**
   * Per-client cap on envelopes per second (an integer, at least 1; a token bucket holding one second's worth).
   * Past it, the client's updates are conflated to the latest per key until the bucket refills.
   * @defaultValue `1000`
   */
  readonly maxMessagesPerSecond?: number | undefined;
  /**
   * A client whose unsent bytes exceed this (an integer, at least 1024) receives nothing new until it drains;
   * meanwhile its updates are conflated to the latest per key, so server memory per client stays bounded.
   * @defaultValue `1048576` (1 MiB)
   */
  readonly maxBufferedBytes?: number | undefined;
  /**
   * A client that stays over `maxBufferedBytes` this long is closed with `CloseCode.SlowConsumer` (4429).
   * Whole milliseconds from 1 to 2147483647.
   * @defaultValue `10000`
   */
  readonly slowClientTimeoutMs?: number | undefined;
  /**
   * Interval of WebSocket pings (a client that has not answered the previous ping is terminated) and of
   * the `heartbeat` packet, which lets clients that cannot see pings (browsers) detect a dead connection.
   * Whole milliseconds from 10 to 2147483647 (Node's longest timer); it cannot be turned off.
   * @defaultValue `30000`
   */
  readonly heartbeatIntervalMs?: number | undefined;
  /**
   * Interval of the Redis health PING on the subscriber; a PING unanswered for this long marks Redis
   * down (a hung server) and forces a reconnect. Whole milliseconds from 10 to 2147483647; it cannot be
   * turned off.
   * @defaultValue `1000`
   */
  readonly redisHealthCheckMs?: number | undefined;
  /**
   * Longest wait for Redis at start: past it `stream.ready` rejects with `SST_ERR_REDIS_UNAVAILABLE`,
   * while the stream keeps retrying and recovers by itself. `0` waits for as long as it takes. Either way,
   * a stream still waiting after 2 s logs at `warn` where it waits (host and port, never credentials).
   * @defaultValue `10000`
   */
  readonly readyTimeoutMs?: number | undefined;
  /**
   * Largest Redis message accepted, in bytes (an integer, at least 64); larger ones are dropped as invalid.
   * @defaultValue `65536`
   */
  readonly maxMessageBytes?: number | undefined;
  /**
   * permessage-deflate with clients that offer it (browsers, ws, Python's websockets do): `true` with the
   * defaults of {@link CompressionOptions}, an object to tune them, `false` for uncompressed frames only.
   * Clients that receive the same frames share one compression context, so a message is compressed once per
   * group of clients, not once per client: about 15 % of the bytes at the server CPU of no compression.
   * Clients that do not offer it get uncompressed frames either way.
   * @defaultValue `true`
   */
  readonly compression?: boolean | CompressionOptions | undefined;
  /**
   * How far ahead of this server's clock an envelope's `time` may be, in whole milliseconds from 0 to
   * 2147483647. An envelope dated further ahead (a producer's clock that is wrong, or a forged date) is
   * dropped as invalid: its key would otherwise keep a value that every later, correct one sorts before,
   * for clients that resume by time and for the history. The same limit applies to the stamps of the
   * Redis-backed history (`historyStream`), but never less than 60 s there, since Redis's clock dates the
   * stamps: a stamp dated further ahead is ignored (the message passes as if unstamped).
   * @defaultValue `300000` (5 minutes)
   */
  readonly maxClockSkewMs?: number | undefined;
  /**
   * Most keys kept for the snapshot (an integer, at least 0); past it the least recently updated key is
   * forgotten. `0` keeps no snapshot: new clients start empty.
   * @defaultValue `10000`
   */
  readonly maxSnapshotKeys?: number | undefined;
  /**
   * How long the stream keeps what it delivered, by the envelopes' `time`, for clients that connect with
   * `?since=` (a dashboard filling its charts at once, a client resuming after a drop). Values are kept at
   * the throttled resolution: what clients were sent, not every message received. Whole milliseconds from
   * 0 to 2147483647; `0` keeps none (a `since` then gets the snapshot only, marked incomplete).
   * @defaultValue `300000` (5 minutes)
   */
  readonly historyMs?: number | undefined;
  /**
   * Most values the history keeps for one key (an integer, at least 1); past it the key's oldest is
   * forgotten. The default holds `historyMs` of a key updated at the default `throttleMs` (20 per second).
   * @defaultValue `6000`
   */
  readonly maxHistoryPerKey?: number | undefined;
  /**
   * Most values the history keeps for all keys together (an integer, at least 1), which bounds its memory:
   * about 0.3 KB per value for a `system_metric` with a small `meta` (see the README), so about 30 MB at the
   * default. Past it the oldest delivered value is forgotten.
   * @defaultValue `100000`
   */
  readonly maxHistoryEntries?: number | undefined;
  /**
   * Redis-backed history: after its subscriber reconnects to Redis, the stream reads what it missed from a
   * Redis Stream and delivers it (in order, each message once) before resuming live, and at start it loads
   * the last `historyMs` from there, so every instance of an API holds the same history. `true` reads
   * `historyStreamKey(channel)` (`{system:metrics}:history`, in the channel's Cluster slot); a string names
   * another key. Producers write there with `createSystemPublisher({ historyStream: true })`, whose Lua
   * script adds each message to the stream and publishes it stamped with its entry ID; producers that only
   * PUBLISH keep working and get the in-memory history alone. Needs a Redis server (not the in-process
   * bus); a least-privilege user needs `+xrange` on the stream's key (`%R~{system:metrics}:history`).
   * `stream.ready` waits for the first load.
   * @defaultValue `false`
   */
  readonly historyStream?: boolean | string | undefined;
  /**
   * A pino-compatible logger (an object with `debug`, `info`, `warn` and `error` methods).
   * @defaultValue silent ({@link noopLogger})
   */
  readonly logger?: Logger | undefined;
  /**
   * Prometheus metrics of the stream (`system_stream_*`; the README lists them). `true` creates a
   * prom-client `Registry` for this stream; a host's prom-client 15 `Registry` gets the stream's metrics
   * registered into it, beside the host's own (one stream per registry: a second one's names would
   * clash and its attach throws). Either way the registry is `stream.metrics`, and `stream.router()`
   * serves it at `GET …/metrics`. prom-client is an optional peer dependency, loaded only when this is
   * set; if it is not installed, attaching throws `SST_ERR_INVALID_OPTION`.
   * @defaultValue `false`: no metrics, and prom-client is never loaded
   */
  readonly metrics?: boolean | MetricsRegistry | undefined;
  /**
   * Who may read `GET …/metrics`. `same`: whoever may read the snapshot (an API key, which Prometheus
   * sends with `authorization: { credentials: <key> }` in its scrape config, or a grant of
   * `authenticate`). `none`: anyone who can reach the route; choose it only where the router is
   * reachable from an internal network alone, e.g. mounted on a second server that listens on an
   * internal port. Ignored unless `metrics` is set.
   * @defaultValue `same`
   */
  readonly metricsAuth?: 'same' | 'none' | undefined;
  /**
   * A `source` whose `system_metric` envelopes stop for this many of its usual publishing intervals (but
   * at least `staleFloorMs`) is reported stale to every client with a `source_status` packet, and live
   * again with its next metric. The interval is learnt per source from the gaps between its metrics,
   * so producers on any fixed interval need no configuration. `0` turns the tracking off; otherwise a
   * number from 1 to 1000.
   * @defaultValue `3`
   */
  readonly staleAfterIntervals?: number | undefined;
  /**
   * The shortest silence after which a source is reported stale, whatever its interval (and the limit
   * for a source seen only once). Whole milliseconds from 100 to 2147483647.
   * @defaultValue `5000`
   */
  readonly staleFloorMs?: number | undefined;
}

/** {@link SystemStreamOptions} after defaults and checks. @internal */
export interface ResolvedOptions {
  readonly redis: string | RedisLike;
  readonly path: string;
  /** The first of `channels`: the one logs name. */
  readonly channel: string;
  readonly channels: readonly string[];
  readonly sharded: boolean;
  readonly apiKeys: readonly string[];
  /** `undefined` when tokens are not accepted. */
  readonly jwt: ResolvedJwt | undefined;
  readonly authenticate: Authenticate | undefined;
  readonly authenticateTimeoutMs: number;
  readonly maxPendingAuthentications: number;
  readonly authRequired: boolean;
  readonly allowedOrigins: ReadonlySet<string> | undefined;
  readonly maxClients: number;
  readonly throttleMs: number;
  readonly writeDelayMs: number;
  readonly maxMessagesPerSecond: number;
  readonly maxBufferedBytes: number;
  readonly slowClientTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly redisHealthCheckMs: number;
  readonly readyTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** `null` when compression is off. */
  readonly compression: DeflateSettings | null;
  readonly maxClockSkewMs: number;
  readonly maxSnapshotKeys: number;
  readonly historyMs: number;
  readonly maxHistoryPerKey: number;
  readonly maxHistoryEntries: number;
  /** The Redis Stream of the Redis-backed history; `null` when it is off. */
  readonly historyStream: string | null;
  readonly logger: Logger;
  /** `undefined` when metrics are off. */
  readonly metrics: true | MetricsRegistry | undefined;
  readonly metricsAuth: 'same' | 'none';
  readonly staleAfterIntervals: number;
  readonly staleFloorMs: number;
}

/** Every option name; the compiler keeps it in step with {@link SystemStreamOptions}. */
const OPTION_NAMES: OptionNames<SystemStreamOptions> = {
  redis: true,
  path: true,
  channel: true,
  sharded: true,
  apiKeys: true,
  jwt: true,
  authenticate: true,
  authenticateTimeoutMs: true,
  maxPendingAuthentications: true,
  auth: true,
  allowedOrigins: true,
  maxClients: true,
  throttleMs: true,
  writeDelayMs: true,
  maxMessagesPerSecond: true,
  maxBufferedBytes: true,
  slowClientTimeoutMs: true,
  heartbeatIntervalMs: true,
  redisHealthCheckMs: true,
  readyTimeoutMs: true,
  maxMessageBytes: true,
  compression: true,
  maxClockSkewMs: true,
  maxSnapshotKeys: true,
  historyMs: true,
  maxHistoryPerKey: true,
  maxHistoryEntries: true,
  historyStream: true,
  logger: true,
  metrics: true,
  metricsAuth: true,
  staleAfterIntervals: true,
  staleFloorMs: true,
};

const DEFAULTS = {
  path: '/api/system/ws',
  maxClients: 100,
  authenticateTimeoutMs: 5000,
  maxPendingAuthentications: 100,
  throttleMs: 50,
  writeDelayMs: 0,
  maxMessagesPerSecond: 1000,
  maxBufferedBytes: 1024 * 1024,
  slowClientTimeoutMs: 10_000,
  heartbeatIntervalMs: 30_000,
  redisHealthCheckMs: 1000,
  readyTimeoutMs: 10_000,
  maxMessageBytes: 64 * 1024,
  maxClockSkewMs: 300_000,
  maxSnapshotKeys: 10_000,
  staleAfterIntervals: 3,
  staleFloorMs: 5000,
  historyMs: 300_000,
  maxHistoryPerKey: 6000,
  maxHistoryEntries: 100_000,
} as const;

/**
 * Applies defaults and checks every option once; throws `SST_ERR_INVALID_OPTION` naming the option.
 * Secrets (API keys, the Redis URL) never appear in the messages.
 */
export function resolveOptions(options?: SystemStreamOptions): ResolvedOptions {
  const input = optionsObject(options, OPTION_NAMES, 'attachSystemStream');

  const path = input.path ?? DEFAULTS.path;
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw invalidOption(`Expected \`path\` to be a URL path starting with "/", got ${describeValue(path)}`);
  }

  const apiKeys = apiKeysOption('apiKeys', input.apiKeys);
  const jwt = jwtOption(input.jwt);
  const authenticate = functionOption('authenticate', input.authenticate);
  if (input.auth !== undefined && input.auth !== false) {
    throw invalidOption(
      `Expected \`auth\` to be false or left out, got ${describeValue(input.auth)}. Pass \`apiKeys\`, \`jwt\` or \`authenticate\` to require authentication.`,
    );
  }
  const hasAuth = apiKeys.length > 0 || jwt !== undefined || authenticate !== undefined;
  if (!hasAuth && input.auth !== false) {
    throw invalidOption('No authentication configured: pass `apiKeys`, `jwt` or `authenticate`, or `auth: false` to serve without it');
  }
  if (hasAuth && input.auth === false) {
    throw invalidOption('`auth: false` contradicts `apiKeys`/`jwt`/`authenticate`: remove one of them');
  }
  const origins = stringList('allowedOrigins', input.allowedOrigins);
  const staleAfterIntervals = numberOption('staleAfterIntervals', input.staleAfterIntervals ?? DEFAULTS.staleAfterIntervals, {
    min: 0,
    max: 1000,
  });
  if (staleAfterIntervals > 0 && staleAfterIntervals < 1) {
    throw invalidOption(
      `Expected \`staleAfterIntervals\` to be 0 (off) or a number from 1 to 1000, got ${staleAfterIntervals}: below 1, a source would be stale before its next metric is due`,
    );
  }
  const redis = redisOption(input.redis ?? defaultRedis(), 'subscriber');
  const channels = channelList('channel', input.channel ?? DEFAULT_CHANNEL);

  return Object.freeze({
    redis,
    path,
    channel: channels[0] as string,
    channels,
    sharded: shardedOption(input.sharded, redis, 'subscriber'),
    apiKeys,
    jwt,
    authenticate,
    authenticateTimeoutMs: integerMs('authenticateTimeoutMs', input.authenticateTimeoutMs ?? DEFAULTS.authenticateTimeoutMs, { min: 1 }),
    maxPendingAuthentications: integerOption(
      'maxPendingAuthentications',
      input.maxPendingAuthentications ?? DEFAULTS.maxPendingAuthentications,
      { min: 1 },
    ),
    authRequired: hasAuth,
    allowedOrigins: origins && new Set(origins),
    maxClients: integerOption('maxClients', input.maxClients ?? DEFAULTS.maxClients, { min: 1 }),
    throttleMs: integerMs('throttleMs', input.throttleMs ?? DEFAULTS.throttleMs, { min: 0 }),
    writeDelayMs: integerMs('writeDelayMs', input.writeDelayMs ?? DEFAULTS.writeDelayMs, { min: 0, max: 10_000 }),
    maxMessagesPerSecond: integerOption('maxMessagesPerSecond', input.maxMessagesPerSecond ?? DEFAULTS.maxMessagesPerSecond, { min: 1 }),
    maxBufferedBytes: integerOption('maxBufferedBytes', input.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes, { min: 1024 }),
    slowClientTimeoutMs: integerMs('slowClientTimeoutMs', input.slowClientTimeoutMs ?? DEFAULTS.slowClientTimeoutMs, { min: 1 }),
    heartbeatIntervalMs: integerMs('heartbeatIntervalMs', input.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs, { min: 10 }),
    redisHealthCheckMs: integerMs('redisHealthCheckMs', input.redisHealthCheckMs ?? DEFAULTS.redisHealthCheckMs, { min: 10 }),
    readyTimeoutMs: integerMs('readyTimeoutMs', input.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs, { min: 0 }),
    maxMessageBytes: integerOption('maxMessageBytes', input.maxMessageBytes ?? DEFAULTS.maxMessageBytes, { min: 64 }),
    compression: compressionOption(input.compression),
    maxClockSkewMs: integerMs('maxClockSkewMs', input.maxClockSkewMs ?? DEFAULTS.maxClockSkewMs, { min: 0 }),
    maxSnapshotKeys: integerOption('maxSnapshotKeys', input.maxSnapshotKeys ?? DEFAULTS.maxSnapshotKeys, { min: 0 }),
    historyMs: integerMs('historyMs', input.historyMs ?? DEFAULTS.historyMs, { min: 0 }),
    maxHistoryPerKey: integerOption('maxHistoryPerKey', input.maxHistoryPerKey ?? DEFAULTS.maxHistoryPerKey, { min: 1 }),
    maxHistoryEntries: integerOption('maxHistoryEntries', input.maxHistoryEntries ?? DEFAULTS.maxHistoryEntries, { min: 1 }),
    historyStream: historyStreamOption(input.historyStream, channels, redis),
    logger: loggerOption(input.logger),
    metrics: metricsOption(input.metrics),
    metricsAuth: oneOf('metricsAuth', input.metricsAuth ?? 'same', ['same', 'none']),
    staleAfterIntervals,
    staleFloorMs: integerMs('staleFloorMs', input.staleFloorMs ?? DEFAULTS.staleFloorMs, { min: 100 }),
  });
}

/** `true`, or a registry to register into; `false` and `undefined` turn metrics off. prom-client is not loaded here. */
function metricsOption(value: unknown): true | MetricsRegistry | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return true;
  const registry = value as Partial<Record<keyof MetricsRegistry, unknown>> | null;
  const methods = ['metrics', 'registerMetric', 'getSingleMetric', 'removeSingleMetric'] as const;
  if (
    typeof value !== 'object' ||
    registry === null ||
    !methods.every((m) => typeof registry[m] === 'function') ||
    typeof registry.contentType !== 'string'
  ) {
    throw invalidOption(
      `Expected \`metrics\` to be true, false or a prom-client Registry (with metrics(), registerMetric(), getSingleMetric(), removeSingleMetric() and contentType), got ${describeValue(value)}`,
    );
  }
  return value as MetricsRegistry;
}

/** The `historyStream` option: the stream's key, or `null` when it is off. */
function historyStreamOption(value: unknown, channels: readonly string[], redis: string | RedisLike): string | null {
  if (value === undefined || value === false) return null;
  if (channels.length > 1) throw invalidOption('`historyStream` needs a single `channel`: one history stream follows one channel');
  const channel = channels[0] as string;
  if (value !== true && (typeof value !== 'string' || value.length === 0)) {
    throw invalidOption(`Expected \`historyStream\` to be true, false or a non-empty stream key, got ${describeValue(value)}`);
  }
  if (typeof redis !== 'string' && typeof (redis as { xrange?: unknown }).xrange !== 'function') {
    throw invalidOption(
      '`historyStream` needs a Redis server: the `redis` client given has no xrange() (the in-process bus keeps no stream)',
    );
  }
  return value === true ? historyStreamKey(channel) : value;
}
