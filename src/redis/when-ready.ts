import { SystemStreamError } from '../shared/errors.js';

/**
 * The members of a client that tell whether it can take commands now. ioredis's Redis and Cluster have
 * them all; a stand-in without `status` or `on` (a test double, the in-process bus) counts as ready.
 */
export interface ReadinessSource {
  readonly status?: unknown;
  on?(event: string, listener: () => void): unknown;
  removeListener?(event: string, listener: () => void): unknown;
  connect?(): Promise<unknown>;
}

/** Options of {@link whenReady}. */
export interface WhenReadyOptions {
  /** Rejects with `SST_ERR_REDIS_UNAVAILABLE` after this long; `0` waits for as long as it takes. Default `0`. */
  readonly timeoutMs?: number;
  /**
   * Rejects at once when this many waits are already pending on the same client (every wait counts, from
   * any caller), so an outage cannot grow memory without bound.
   */
  readonly maxWaiting?: number;
  /** Aborting rejects the wait with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** An `SST_ERR_REDIS_UNAVAILABLE` error: `Redis unavailable: <reason>`. */
export function redisUnavailable(reason: string, cause?: unknown): SystemStreamError {
  return new SystemStreamError('SST_ERR_REDIS_UNAVAILABLE', `Redis unavailable: ${reason}`, cause === undefined ? undefined : { cause });
}

interface Waiter {
  readonly signal: AbortSignal | undefined;
  settle(err?: Error): void;
}

interface WaitList {
  readonly size: number;
  add(timeoutMs: number, signal: AbortSignal | undefined): Promise<void>;
}

const waitLists = new WeakMap<ReadinessSource, WaitList>();

/**
 * Resolves when `client` can take commands: at once if it is ready, else at its next `'ready'`.
 * Rejects with `SST_ERR_REDIS_UNAVAILABLE` if it has ended for good (`end`), after `timeoutMs`, or when
 * `maxWaiting` calls already wait on it; with the signal's reason when `signal` aborts. A client created
 * with `lazyConnect` (status `wait`) connects only on its first command, and waiting sends none, so it
 * is connected here.
 */
export function whenReady(client: ReadinessSource, options: WhenReadyOptions = {}): Promise<void> {
  const { timeoutMs = 0, maxWaiting = Infinity, signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (client.status === undefined || client.status === 'ready' || !client.on || !client.removeListener) return Promise.resolve();
  if (client.status === 'end') return Promise.reject(redisUnavailable('the Redis connection was closed'));
  let waiting = waitLists.get(client);
  if (!waiting) {
    waiting = createWaitList(client);
    waitLists.set(client, waiting);
  }
  if (waiting.size >= maxWaiting) return Promise.reject(redisUnavailable(`${maxWaiting} calls are already waiting for Redis`));
  const promise = waiting.add(timeoutMs, signal);
  // A failed connect is retried by the client's own retry strategy; the wait ends by its deadline.
  if (client.status === 'wait') client.connect?.().catch(() => {});
  return promise;
}

/**
 * Everything waiting on one client. One `'ready'` and one `'end'` listener serve them all (and one
 * `'abort'` listener per signal), so a host's client never collects a listener per call.
 */
function createWaitList(client: ReadinessSource): WaitList {
  const waiters = new Set<Waiter>();
  const aborts = new Map<AbortSignal, { count: number; onAbort: () => void }>();

  const settleAll = (err?: Error, only?: AbortSignal): void => {
    for (const waiter of [...waiters]) if (only === undefined || waiter.signal === only) waiter.settle(err);
  };
  const onReady = (): void => settleAll();
  const onEnd = (): void => settleAll(redisUnavailable('the Redis connection was closed'));

  const insert = (waiter: Waiter): void => {
    if (waiters.size === 0) {
      client.on?.('ready', onReady);
      client.on?.('end', onEnd);
    }
    waiters.add(waiter);
    const { signal } = waiter;
    if (!signal) return;
    const entry = aborts.get(signal);
    if (entry) {
      entry.count++;
      return;
    }
    const onAbort = (): void => settleAll(signal.reason as Error, signal);
    aborts.set(signal, { count: 1, onAbort });
    signal.addEventListener('abort', onAbort, { once: true });
  };

  const remove = (waiter: Waiter): void => {
    waiters.delete(waiter);
    const { signal } = waiter;
    const entry = signal && aborts.get(signal);
    if (signal && entry && --entry.count === 0) {
      aborts.delete(signal);
      signal.removeEventListener('abort', entry.onAbort);
    }
    if (waiters.size === 0) {
      client.removeListener?.('ready', onReady);
      client.removeListener?.('end', onEnd);
    }
  };

  return {
    get size() {
      return waiters.size;
    },
    add(timeoutMs, signal) {
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          signal,
          settle(err) {
            if (!waiters.has(waiter)) return;
            clearTimeout(timer);
            remove(waiter);
            if (err) reject(err);
            else resolve();
          },
        };
        const timer =
          timeoutMs > 0 ? setTimeout(() => waiter.settle(redisUnavailable(`not connected within ${timeoutMs} ms`)), timeoutMs) : undefined;
        insert(waiter);
      });
    },
  };
}
