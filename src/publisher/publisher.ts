import type { Redis } from 'ioredis';
import { encodeEnvelopeMessages } from './encode-envelopes.js';
import { SystemStreamError, SystemStreamValidationError } from '../shared/errors.js';
import type { Alert, AlertLevel, ContainerState, ContainerStatus, Envelope, MetricMeta, SystemMetric } from '../protocol/wire.js';
import { resolvePublisherOptions, type SystemPublisherOptions } from './publisher-options.js';
import { openRedisConnection, type RedisLike } from '../redis/redis-connection.js';
import { publishWithHistory, type ScriptRunner } from '../redis/history-script.js';
import { redisUnavailable, whenReady, type ReadinessSource } from '../redis/when-ready.js';

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
  readonly meta?: MetricMeta | undefined;
  /** When the sample was taken. Default: now. A `Date` is sent as ISO-8601 UTC. */
  readonly time?: string | Date | undefined;
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
  readonly time?: string | Date | undefined;
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
  readonly message?: string | undefined;
  /** Default: now. */
  readonly time?: string | Date | undefined;
}

/**
 * Publishes validated envelopes to the stream's Redis channel. Created by {@link createSystemPublisher}.
 *
 * Every method validates before anything is sent: invalid input rejects with
 * {@link SystemStreamValidationError} and nothing is published. What is validated is the JSON text
 * that will be published, parsed back, so what passes is byte for byte what the server receives and
 * checks: fields JSON does not carry (a prototype, `undefined`) neither help nor hurt, a getter is read
 * once, and an own `__proto__` key is refused like any unknown field. When Redis cannot take the message
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
   * is validated whole: one invalid member rejects the call and nothing is sent. A batch larger than
   * `maxMessageBytes` is sent as several consecutive messages, in order, each within the limit; it then
   * resolves with the fewest subscribers any of them reached, and if one fails the call rejects and the
   * messages after it are not sent (those before it were).
   */
  publish(envelopes: Envelope | readonly Envelope[]): Promise<number>;
  /**
   * Rejects calls still waiting for Redis with `SST_ERR_CLOSED` and closes the connection the publisher
   * opened (never a client you passed in). Idempotent: later calls return the same promise.
   */
  close(): Promise<void>;
}

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
 *
 * Failover (Redis Sentinel, Redis Cluster): the publisher fails fast rather than retrying. While the
 * primary (or the shard's master) is gone, a publish either waits for the client to reconnect or fails
 * within `publishTimeoutMs` with `SST_ERR_REDIS_UNAVAILABLE`; it is never sent twice, and nothing is queued
 * for later. Metrics are samples: publish the next one on the next tick. On a Cluster, SPUBLISHes to a
 * shard fail while it has no master (about 2.5 s after its master dies, with `cluster-node-timeout 1000`);
 * classic PUBLISH goes to any node, so a failover seldom touches it.
 * @public
 */
export function createSystemPublisher(options?: SystemPublisherOptions): SystemPublisher {
  const {
    redis: source,
    channel,
    sharded,
    publishTimeoutMs,
    historyStream: history,
    maxMessageBytes,
    logger,
  } = resolvePublisherOptions(options);

  // A socket timeout past the publish timeout drops a hung server (one that keeps the TCP connection open
  // but never answers), so that the connection reconnects.
  let owned: Redis | undefined;
  let client: RedisLike & ReadinessSource;
  if (typeof source === 'string') {
    client = owned = openRedisConnection(source, 'publisher', logger, {
      commandTimeout: publishTimeoutMs,
      socketTimeout: publishTimeoutMs + 1000,
    });
  } else {
    client = source;
  }

  // Aborted by close(): every call still waiting for Redis rejects with SST_ERR_CLOSED.
  const shutdown = new AbortController();
  let closing: Promise<void> | undefined;

  const ready = whenReady(client, { signal: shutdown.signal });
  ready.catch(() => {}); // a host that never awaits `ready` must not get an unhandled rejection

  const send = async (json: string): Promise<number> => {
    const started = Date.now();
    await whenReady(client, { timeoutMs: publishTimeoutMs, maxWaiting: MAX_WAITING, signal: shutdown.signal });
    const remainingMs = Math.max(1, publishTimeoutMs - (Date.now() - started));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        history !== null
          ? publishWithHistory(client as unknown as ScriptRunner, history, json)
          : // resolvePublisherOptions refused `sharded` for a client without spublish().
            sharded && client.spublish
            ? client.spublish(channel, json).then(Number)
            : client.publish(channel, json),
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
    let messages: string[];
    try {
      messages = encodeEnvelopeMessages(envelopes, maxMessageBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    if (messages.length === 1) return send(messages[0] as string);
    return sendInOrder(messages, send);
  };

  return {
    channel,
    ready,
    publish,
    publishMetric(metric) {
      return withInput(metric, 'metric', (m) => publish({ type: 'system_metric', data: withTime(m) as unknown as SystemMetric }));
    },
    publishContainerStatus(status) {
      return withInput(status, 'container status', (s) =>
        publish({ type: 'container_status', data: withTime(s) as unknown as ContainerStatus }),
      );
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

/**
 * Publishes the messages of a batch that was split, one after the other (so each key's values stay in
 * order); resolves with the fewest subscribers any of them reached. One that fails rejects the call, and
 * those after it are not sent.
 */
async function sendInOrder(messages: readonly string[], send: (json: string) => Promise<number>): Promise<number> {
  let reached = Infinity;
  for (const json of messages) reached = Math.min(reached, await send(json));
  return reached;
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
 * The envelope's `data`: the caller's own fields as given (so that a misspelt or extra field fails
 * validation instead of vanishing), without `undefined` ones, and `time` first, defaulting to now.
 * Built with `Object.fromEntries`, which defines each field: an own `__proto__` key (as `JSON.parse`
 * makes from an HTTP body) stays a field, and is refused by the schema, instead of being assigned as
 * the prototype, which would hide it from the JSON and lend its contents to the checks.
 */
function withTime(input: object & { readonly time?: string | Date }): Record<string, unknown> {
  const fields = Object.entries(input).filter(([key, value]) => key !== 'time' && value !== undefined);
  return Object.fromEntries([['time', toTime(input.time)], ...fields]) as Record<string, unknown>;
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
