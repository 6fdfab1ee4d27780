import { SystemStreamError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** How long `ready` may be pending before the stream logs at `warn` that it is still waiting. */
export const STILL_WAITING_LOG_MS = 2000;
/** setTimeout's longest delay; Node fires a longer one after 1 ms, so longer timeouts mean "never". */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The stream's `ready` promise and what settles it. */
export interface ReadyDeadline {
  readonly promise: Promise<void>;
  /** Resolves the promise, or rejects it with `error`. Only the first call counts; it clears the timers. */
  settle(error?: Error): void;
}

export interface ReadyDeadlineOptions {
  /** Rejects the promise with `SST_ERR_REDIS_UNAVAILABLE` after this long; `0` never does. */
  readonly timeoutMs: number;
  /** Where Redis is, for the logs: host and port, never credentials (see `describeEndpoint`). */
  readonly endpoint: string;
  readonly logger: Logger;
}

/**
 * `ready`, made so that it never hangs silently: while it is pending the stream logs at `warn`, after
 * {@link STILL_WAITING_LOG_MS}, where it is still waiting; past `timeoutMs` it rejects. Either way the
 * stream keeps retrying, so a rejection tells the host that Redis is late, not that the stream gave up.
 */
export function createReadyDeadline({ timeoutMs, endpoint, logger }: ReadyDeadlineOptions): ReadyDeadline {
  let settled = false;
  let resolve: () => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a host that never awaits `ready` must not get an unhandled rejection

  const settle = (error?: Error): void => {
    if (settled) return;
    settled = true;
    clearTimeout(stillWaiting);
    clearTimeout(deadline);
    if (error) reject(error);
    else resolve();
  };

  const stillWaiting = setTimeout(() => {
    logger.warn({ endpoint, waitedMs: STILL_WAITING_LOG_MS }, 'still waiting for redis; stream.ready is pending');
  }, STILL_WAITING_LOG_MS);
  stillWaiting.unref?.();

  const deadline =
    timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS
      ? setTimeout(() => {
          logger.warn(
            { endpoint, readyTimeoutMs: timeoutMs },
            'redis not ready within readyTimeoutMs; stream.ready rejected, still retrying',
          );
          settle(
            new SystemStreamError(
              'SST_ERR_REDIS_UNAVAILABLE',
              `Redis at ${endpoint} was not ready within ${timeoutMs} ms; the stream keeps retrying`,
            ),
          );
        }, timeoutMs)
      : undefined;
  deadline?.unref?.();

  return { promise, settle };
}
