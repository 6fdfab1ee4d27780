import { Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { createRateLimitedLog, type Logger } from '../shared/logger.js';

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
  /**
   * Sharded publish (SPUBLISH, Redis 7 or later); needed only by a publisher created with `sharded: true`.
   * Resolves with the number of receivers (ioredis types it as `unknown`).
   */
  spublish?(channel: string, message: string): Promise<unknown>;
}

/** What a connection the package opens is for. Each role has its own settings and connection name. */
export type RedisRole = 'subscriber' | 'publisher' | 'history';

const LOG_INTERVAL_MS = 10_000;

const ROLE_OPTIONS: Readonly<Record<RedisRole, RedisOptions>> = {
  // Commands wait for a reconnect instead of failing, and reconnects are retried at most 500 ms apart so
  // that live data resumes within a second of Redis coming back (ioredis 6's default backoff grows to 5 s).
  // The channel source re-sends SUBSCRIBE itself on every 'ready': ioredis's own resubscribe leaves a
  // refused SUBSCRIBE (an ACL without the channel) as an unhandled rejection, which ends the host process.
  // No ready check: it runs INFO, which a least-privilege user may lack, and a subscriber needs no loaded dataset.
  subscriber: {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResubscribe: false,
    enableReadyCheck: false,
    lazyConnect: false,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 500),
    connectionName: 'system-stream:subscriber',
  },
  // Fail fast instead of queueing (no offline queue, one try per command), with a bounded reconnect backoff.
  publisher: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: false,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1000),
    connectionName: 'system-stream:publisher',
  },
  // The Redis-backed history's reads (XRANGE): they wait for a reconnect like the subscriber's commands,
  // with a time limit set by the reader itself.
  history: {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    enableReadyCheck: false,
    lazyConnect: false,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 500),
    connectionName: 'system-stream:history',
  },
};

/** An ioredis `Cluster`: its `duplicate()` takes `(startupNodes, options)`, and per-node settings go under `redisOptions`. */
interface ClusterLike {
  readonly isCluster: true;
  duplicate(startupNodes: readonly unknown[], options: ClusterOptions): unknown;
}

function isCluster(source: RedisLike): source is RedisLike & ClusterLike {
  return 'isCluster' in source && source.isCluster === true;
}

/** Whether `client` is an ioredis `Cluster` (which has `isCluster: true`). */
export function isClusterClient(client: object): boolean {
  return 'isCluster' in client && client.isCluster === true;
}

/** The same settings in a Cluster's shape: retry and offline queue belong to the cluster, the rest to each node. */
function asClusterOptions(options: RedisOptions): ClusterOptions {
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = options;
  return { clusterRetryStrategy: retryStrategy, enableOfflineQueue, lazyConnect, redisOptions: perNode };
}

/**
 * Opens a new connection for `role`: from a URL, or as a duplicate of the host's client (a Redis or a
 * Cluster), with the role's settings plus `overrides`. It gets an `'error'` listener that logs at `warn`,
 * rate-limited, only the error's message and code (never the connection options, which may hold a
 * password). The caller owns the result and must close it.
 */
export function openRedisConnection(source: string | RedisLike, role: RedisRole, logger: Logger, overrides: RedisOptions = {}): Redis {
  const options: RedisOptions = { ...ROLE_OPTIONS[role], ...overrides };
  let connection: Redis;
  if (typeof source === 'string') connection = new Redis(source, options);
  else if (isCluster(source)) connection = source.duplicate([], asClusterOptions(options)) as Redis;
  else connection = source.duplicate(options) as Redis;
  const logError = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), `redis ${role} error`, LOG_INTERVAL_MS);
  connection.on('error', (err: Error & { code?: string }) =>
    logError({ event: 'redis_error', err: { message: err.message, code: err.code } }),
  );
  return connection;
}

/** The settings of an ioredis Redis (Sentinel, socket or TCP) that say where it connects. */
interface AddressOptions {
  readonly host?: string;
  readonly port?: number;
  readonly path?: string | null;
  readonly name?: string;
  readonly sentinels?: readonly { readonly host?: string; readonly port?: number }[] | null;
}

/** Where a connection points, for logs: host and port, socket path, Sentinel group or Cluster nodes. Never credentials. */
export function describeEndpoint(connection: object): string {
  if ('startupNodes' in connection && Array.isArray(connection.startupNodes)) {
    return `cluster ${connection.startupNodes.map(nodeAddress).join(', ')}`;
  }
  if (!('options' in connection) || typeof connection.options !== 'object' || connection.options === null) return 'an unknown address';
  const options: AddressOptions = connection.options;
  if (options.sentinels?.length) {
    return `sentinel group ${options.name ?? 'mymaster'} via ${options.sentinels.map((s) => `${s.host ?? 'localhost'}:${s.port ?? 26379}`).join(', ')}`;
  }
  if (options.path) return `unix:${options.path}`;
  return `${options.host ?? 'localhost'}:${options.port ?? 6379}`;
}

/** A Cluster startup node: a port, a URL (which may carry a password) or `{ host, port }`. */
function nodeAddress(node: unknown): string {
  if (typeof node === 'number') return `127.0.0.1:${node}`;
  if (typeof node === 'string') {
    try {
      const url = new URL(node.includes('://') ? node : `redis://${node}`);
      return `${url.hostname}:${url.port || 6379}`;
    } catch {
      return 'an unparsable address';
    }
  }
  if (typeof node === 'object' && node !== null) {
    const { host, port } = node as { host?: unknown; port?: unknown };
    return `${typeof host === 'string' ? host : '127.0.0.1'}:${typeof port === 'number' || typeof port === 'string' ? port : 6379}`;
  }
  return 'an unknown address';
}
