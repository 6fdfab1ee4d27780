import type { Redis } from 'ioredis';
import { envelopeValidator, toValidationIssues } from './envelope-validator.js';
import { describeValue, invalidOption, SystemStreamError, SystemStreamValidationError } from './errors.js';
import { noopLogger, type Logger } from './logger.js';
import type { Alert, AlertLevel, ContainerState, ContainerStatus, Envelope, MetricMeta, SystemMetric } from './protocol.js';
import { openRedisConnection, type RedisLike } from './redis/connection.js';
import { redisUnavailable, whenReady, type ReadinessSource } from './redis/when-ready.js';
import { MAX_BATCH_SIZE } from './schemas.js';

/**
 * Options for {@link createSystemPublisher}.
 * @public
 */
export interface SystemPublisherOptions {
  /**
   * Redis to publish to: a `redis://` or `rediss://` URL, or your connected ioredis client. A client you
   * pass is used as it is and never closed by the publisher; a connection opened from a URL is closed by
   * `close()`.
   * @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`
   */
  readonly redis?: string | RedisLike;
  /**
   * The Pub/Sub channel to publish to.
   * @defaultValue `system:metrics`
   */
  readonly channel?: string;
  /**
   * Longest wait for one publish, including waiting for Redis to (re)connect. Past it the call rejects
   * with `SST_ERR_REDIS_UNAVAILABLE`; nothing is queued for later.
   * @defaultValue `2000`
   */
  readonly publishTimeoutMs?: number;
  /**
   * A pino-compatible logger. The Redis URL is never logged.
   * @defaultValue silent
   */
  readonly logger?: Logger;
}

/**
 * A sample for {@link SystemPublisher.publishMetric}: a `system_metric` envelope's data, with `time` optional.
 * @public
 */
export interface MetricInput {
  /** What is measured, e.g. `cpu`: letters, digits, `_`, `.` and `-`, at most 64. */
  readonly metric_type: string;
  /** A finite number (percent for `cpu`, `memory`, `disk`). */
  readonly value: number;
  /** Where it was measured: `host`, a mount point, an interface, a container name. */
  readonly source: string;
  /** Up to 16 scalar annotations, e.g. `{ unit: 'percent' }`. */
  readonly meta?: MetricMeta;
  /** When the sample was taken. Default: now. A `Date` is sent as ISO-8601 UTC. */
  readonly time?: string | Date;
}

/**
 * Input of {@link SystemPublisher.publishContainerStatus}.
 * @public
 */
export interface ContainerStatusInput {
  /** Container name, e.g. `tick-archiver`. */
  readonly container: string;
  /** Its state: one of Docker's states, or `stopped`. */
  readonly status: ContainerState;
  /** Default: now. */
  readonly time?: string | Date;
}

/**
 * Input of {@link SystemPublisher.publishAlert}.
 * @public
 */
export interface AlertInput {
  /** `warning` or `critical` when a line is crossed, `resolved` when the value is back below it. */
  readonly level: AlertLevel;
  /** The metric that crossed, e.g. `cpu`. */
  readonly metric_type: string;
  /** The series' source, e.g. `host` or a mount point. */
  readonly source: string;
  /** The value that crossed (or fell back below) the line. */
  readonly value: number;
  /** The line that was crossed. */
  readonly threshold: number;
  /** Default: a summary such as `cpu on host at 93.1 (threshold 90)`. */
  readonly message?: string;
  /** Default: now. */
  readonly time?: string | Date;
}

/**
 * Publishes validated envelopes to the stream's Redis channel. Created by {@link createSystemPublisher}.
 *
 * Every method validates before anything is sent: invalid input rejects with
 * {@link SystemStreamValidationError} and nothing is published. When Redis cannot take the message
 * within `publishTimeoutMs`, the call rejects with {@link SystemStreamError} `SST_ERR_REDIS_UNAVAILABLE`.
 * Each method resolves with the number of Redis subscribers that received the message (Redis's own
 * count: `0` when nobody listens).
 * @public
 */
export interface SystemPublisher {
  /** The channel this publisher writes to. */
  readonly channel: string;
  /**
   * Resolves once Redis is connected. Rejects with `SST_ERR_CLOSED` if the publisher is closed first, and
   * with `SST_ERR_REDIS_UNAVAILABLE` if the client has ended for good (`quit()`, or a retry strategy that gave up).
   */
  readonly ready: Promise<void>;
  /** Publishes one `system_metric` envelope. */
  publishMetric(metric: MetricInput): Promise<number>;
  /** Publishes one `container_status` envelope. */
  publishContainerStatus(status: ContainerStatusInput): Promise<number>;
  /** Publishes one `alert` envelope. */
  publishAlert(alert: AlertInput): Promise<number>;
  /**
   * Publishes one envelope, or an array of 1 to 1,000 envelopes as one Redis message (a batch). A batch
   * is validated whole: one invalid member rejects the call and nothing is sent.
   */
  publish(envelopes: Envelope | readonly Envelope[]): Promise<number>;
  /**
   * Rejects calls still waiting for Redis with `SST_ERR_CLOSED` and closes the connection the publisher
   * opened (never a client you passed in). Idempotent: later calls return the same promise.
   */
  close(): Promise<void>;
}

const DEFAULTS = { channel: 'system:metrics', publishTimeoutMs: 2000 } as const;

/** Calls waiting for Redis at once; more reject at once, so an outage cannot grow memory without bound. */
const MAX_WAITING = 1000;


/**
 * Creates a {@link SystemPublisher}. Throws {@link SystemStreamError} `SST_ERR_INVALID_OPTION` for bad
 * options (the message never repeats the Redis URL, which may hold a password).
 *
 * A connection opened from a URL fails fast: no offline queue, so a publish while Redis is down rejects
 * within `publishTimeoutMs` instead of piling up in memory. A client you pass keeps its own settings and
 * may be in any state (connected, connecting, reconnecting): the publisher waits (bounded) for its `ready`
 * status before sending, so nothing lands in its offline queue. A client created with `lazyConnect: true`
 * is connected by the publisher right away.
 * @public
 */
export function createSystemPublisher(options: SystemPublisherOptions = {}): SystemPublisher {
  if (typeof options !== 'object' || options === null) throw invalidOption(`Expected options to be an object, got ${describeValue(options)}`);
  const redisOption = options.redis ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  if (typeof redisOption === 'string') {
    if (!/^rediss?:\/\/./.test(redisOption)) throw invalidOption('Expected `redis` to be a redis:// or rediss:// URL or an ioredis client');
  } else if (typeof redisOption !== 'object' || redisOption === null || typeof (redisOption as RedisLike).publish !== 'function') {
    throw invalidOption('Expected `redis` to be a redis:// URL or an ioredis client (an object with publish())');
  }
  const channel = options.channel ?? DEFAULTS.channel;
  if (typeof channel !== 'string' || channel.length === 0) {
    throw invalidOption(`Expected \`channel\` to be a non-empty string, got ${describeValue(channel)}`);
  }
  const publishTimeoutMs = options.publishTimeoutMs ?? DEFAULTS.publishTimeoutMs;
  if (typeof publishTimeoutMs !== 'number' || !Number.isInteger(publishTimeoutMs) || publishTimeoutMs < 1 || publishTimeoutMs > 2 ** 31 - 1) {
    throw invalidOption(`Expected \`publishTimeoutMs\` to be an integer >= 1, got ${describeValue(publishTimeoutMs)}`);
  }
  const logger = options.logger ?? noopLogger;
  if (!['debug', 'info', 'warn', 'error'].every((m) => typeof (logger as unknown as Record<string, unknown>)[m] === 'function')) {
    throw invalidOption('Expected `logger` to have debug, info, warn and error methods (pino-compatible)');
  }

  // A socket timeout past the publish timeout drops a hung server (one that keeps the TCP connection open
  // but never answers), so that the connection reconnects.
  let owned: Redis | undefined;
  let client: RedisLike & ReadinessSource;
  if (typeof redisOption === 'string') {
    client = owned = openRedisConnection(redisOption, 'publisher', logger, { commandTimeout: publishTimeoutMs, socketTimeout: publishTimeoutMs + 1000 });
  } else {
    client = redisOption;
  }

  // Aborted by close(): every call still waiting for Redis rejects with SST_ERR_CLOSED.
  const shutdown = new AbortController();
  let closing: Promise<void> | undefined;

  const ready = whenReady(client, { signal: shutdown.signal });
  ready.catch(() => {}); // a host that never awaits `ready` must not get an unhandled rejection

  const send = async (payload: Envelope | readonly Envelope[]): Promise<number> => {
    const json = JSON.stringify(payload);
    const started = Date.now();
    await whenReady(client, { timeoutMs: publishTimeoutMs, maxWaiting: MAX_WAITING, signal: shutdown.signal });
    const remainingMs = Math.max(1, publishTimeoutMs - (Date.now() - started));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        client.publish(channel, json),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(redisUnavailable(`no reply within ${publishTimeoutMs} ms`)), remainingMs);
        }),
      ]);
    } catch (err) {
      if (err instanceof SystemStreamError) throw err;
      if (shutdown.signal.aborted) throw closedError();
      throw redisUnavailable((err as Error)?.message ?? 'publish failed', err);
    } finally {
      clearTimeout(timer);
    }
  };

  const publish = (envelopes: Envelope | readonly Envelope[]): Promise<number> => {
    if (shutdown.signal.aborted) return Promise.reject(closedError());
    try {
      validate(envelopes);
    } catch (err) {
      return Promise.reject(err);
    }
    return send(envelopes);
  };

  return {
    channel,
    ready,
    publish,
    publishMetric(metric) {
      return withInput(metric, 'metric', (m) => publish({ type: 'system_metric', data: withTime(m) as unknown as SystemMetric }));
    },
    publishContainerStatus(status) {
      return withInput(status, 'container status', (s) => publish({ type: 'container_status', data: withTime(s) as unknown as ContainerStatus }));
    },
    publishAlert(alert) {
      return withInput(alert, 'alert', (a) => {
        const input: AlertInput = { ...a, message: a.message ?? defaultAlertMessage(a) };
        const data = withTime(input) as unknown as Alert;
        return publish({ type: 'alert', data });
      });
    },
    close() {
      if (closing) return closing;
      shutdown.abort(closedError());
      closing = owned ? quit(owned) : Promise.resolve();
      return closing;
    },
  };
}

async function quit(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  // QUIT lets Redis finish what it already received; a server that does not answer gets cut off.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([client.quit().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
  clearTimeout(timer);
  if ((client.status as string) !== 'end') client.disconnect();
}

function validate(envelopes: Envelope | readonly Envelope[]): void {
  const check = envelopeValidator();
  if (!Array.isArray(envelopes)) {
    if (!check(envelopes)) throw new SystemStreamValidationError(toValidationIssues(check.errors));
    return;
  }
  if (envelopes.length === 0) throw new SystemStreamValidationError([{ path: '', message: 'must NOT have fewer than 1 items' }]);
  if (envelopes.length > MAX_BATCH_SIZE) {
    throw new SystemStreamValidationError([{ path: '', message: `must NOT have more than ${MAX_BATCH_SIZE} items` }]);
  }
  envelopes.forEach((envelope: unknown, index) => {
    if (!check(envelope)) {
      throw new SystemStreamValidationError(toValidationIssues(check.errors).map((i) => ({ ...i, path: `/${index}${i.path}` })));
    }
  });
}

/** Runs `build` on an object input, turning a non-object or a thrown validation error into a rejection. */
function withInput<T extends object>(input: T, what: string, build: (input: T) => Promise<number>): Promise<number> {
  if (typeof input !== 'object' || input === null) {
    return Promise.reject(new SystemStreamValidationError([{ path: '/data', message: `must be an object (the ${what})` }]));
  }
  try {
    return build(input);
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * The envelope's `data`: the caller's fields as given (so that a misspelt or extra field fails validation
 * instead of vanishing), without `undefined` ones, and `time` first, defaulting to now.
 */
function withTime(input: object & { readonly time?: string | Date }): Record<string, unknown> {
  const data: Record<string, unknown> = { time: toTime(input.time) };
  for (const [key, value] of Object.entries(input)) {
    if (key !== 'time' && value !== undefined) data[key] = value;
  }
  return data;
}

function toTime(time: unknown): unknown {
  if (time === undefined) return new Date().toISOString();
  if (time instanceof Date) {
    if (Number.isNaN(time.getTime())) throw new SystemStreamValidationError([{ path: '/data/time', message: 'must be a valid Date' }]);
    return time.toISOString();
  }
  return time; // the schema checks everything else
}

function defaultAlertMessage(a: AlertInput): string {
  if (a.level === 'resolved') return `${a.metric_type} on ${a.source} back to ${a.value} (threshold ${a.threshold})`;
  return `${a.metric_type} on ${a.source} at ${a.value} (threshold ${a.threshold})`;
}

function closedError(): SystemStreamError {
  return new SystemStreamError('SST_ERR_CLOSED', 'The publisher is closed');
}
