// The option checks of every Redis-related option (`redis`, `sharded`), shared by the stream, the publisher and
// the sentinel's CLI. Like the option kit, it loads no dependency: the CLI reads it before it parses its flags.
import { invalidOption } from '../shared/errors.js';
import { booleanOption } from '../shared/option-kit.js';
import type { RedisLike, RedisRole } from './redis-connection.js';

/** Where Redis is when neither an option nor `REDIS_URL` says. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The `redis` option's default: `REDIS_URL` from the environment at the time of the call, else {@link DEFAULT_REDIS_URL}. */
export function defaultRedis(env: NodeJS.ProcessEnv = process.env): string {
  return env['REDIS_URL'] ?? DEFAULT_REDIS_URL;
}

/**
 * What a connection is for, which decides the methods a host's client must have: the stream
 * `duplicate()`s the client for its subscriber; the publisher calls `publish()` on it.
 */
export type OptionRole = Extract<RedisRole, 'subscriber' | 'publisher'>;

const REQUIRED_METHOD: Readonly<Record<OptionRole, keyof RedisLike>> = { subscriber: 'duplicate', publisher: 'publish' };

/**
 * The `redis` option: a `redis://` or `rediss://` URL that ioredis can open, or a client with the
 * method `role` needs. Call it with the value after defaults ({@link defaultRedis}).
 *
 * A URL is parsed here as ioredis will parse it, so that a URL it cannot open is refused now, by
 * option name, instead of as a `TypeError` from inside ioredis later. No message repeats the URL or
 * carries the parser's error as `cause`: both would expose a password written in the URL.
 */
export function redisOption(value: unknown, role: OptionRole, name = 'redis'): string | RedisLike {
  const method = REQUIRED_METHOD[role];
  if (typeof value === 'string') {
    const problem = redisUrlProblem(value);
    if (problem) throw invalidOption(`Expected \`${name}\` to be a redis:// or rediss:// URL that ioredis can open, but ${problem}`);
    return value;
  }
  if (typeof value !== 'object' || value === null || typeof (value as Partial<RedisLike>)[method] !== 'function') {
    throw invalidOption(`Expected \`${name}\` to be a redis:// or rediss:// URL or an ioredis client (an object with ${method}())`);
  }
  return value as RedisLike;
}

/**
 * Why ioredis cannot open `url`, in words that never quote the URL, or `undefined` when it can. Mirrors
 * ioredis's own parsing: WHATWG `new URL()`, then `decodeURIComponent` of the user name and password,
 * then the path as the database number.
 */
function redisUrlProblem(url: string): string | undefined {
  if (!/^rediss?:\/\//i.test(url)) return 'it does not start with redis:// or rediss://';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The authority up to the first path, query or fragment; a port is the digits after the host.
    const port = /^[a-z]+:\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#[]*):(\d+)(?:[/?#]|$)/i.exec(url)?.[1];
    if (port !== undefined && Number(port) > 65_535) return 'its port is above 65535';
    return 'it is not a valid URL (check the brackets around an IPv6 address, the port, and that reserved characters in the user name and password are percent-encoded)';
  }
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    return 'its user name or password has a malformed percent-escape (write a literal % as %25)';
  }
  if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d+$/.test(parsed.pathname)) {
    return 'its path is not a database number (e.g. /0)';
  }
  return undefined;
}

/**
 * The `sharded` option against the `redis` it goes with. Sharded Pub/Sub needs a client that has the
 * sharded commands (`ssubscribe`/`spublish`: an ioredis Redis or Cluster, not the in-process bus). For the
 * stream, an ioredis Cluster must also have been created with `shardedSubscribers: true`: without it ioredis
 * sends SSUBSCRIBE to an arbitrary node, which answers MOVED until ioredis gives up.
 */
export function shardedOption(value: unknown, redis: string | RedisLike, role: OptionRole): boolean {
  const sharded = booleanOption('sharded', value, false);
  if (!sharded || typeof redis === 'string') return sharded;
  const client = redis as RedisLike & { readonly isCluster?: unknown; readonly options?: { readonly shardedSubscribers?: unknown } };
  const command = role === 'subscriber' ? 'ssubscribe' : 'spublish';
  if (client.isCluster === true) {
    if (role === 'subscriber' && client.options?.shardedSubscribers !== true) {
      throw invalidOption(
        '`sharded: true` needs an ioredis Cluster created with `shardedSubscribers: true` (e.g. `new Cluster(nodes, { shardedSubscribers: true })`): without it ioredis cannot route SSUBSCRIBE to the shard that owns the channel',
      );
    }
    return sharded;
  }
  if (typeof (client as unknown as Record<string, unknown>)[command] !== 'function') {
    throw invalidOption(
      `\`sharded: true\` needs a Redis client with ${command}() (an ioredis Redis or Cluster on Redis 7 or later); this \`redis\` has none`,
    );
  }
  return sharded;
}
