/**
 * A pino-compatible logger subset: the object comes first, then the message, so a pino instance
 * can be passed as it is.
 * @public
 */
export interface Logger {
  /** Each dropped message, each client connect and disconnect. */
  debug(obj: object, msg?: string): void;
  /** Lifecycle: subscribed, restored, closed. */
  info(obj: object, msg?: string): void;
  /** Trouble the stream recovers from: invalid messages (rate-limited), slow clients, Redis errors. */
  warn(obj: object, msg?: string): void;
  /** Someone must act: Redis unavailable, `authenticate` threw. */
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};

/**
 * The default logger: silent.
 * @public
 */
export const noopLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/**
 * Logs the first event at once, then at most one summary per `intervalMs` with the number of
 * events in between, so a flood of bad input cannot flood the log. The shared clock is read
 * only when an event arrives; no timer runs.
 */
export function createRateLimitedLog(
  log: (obj: object, msg: string) => void,
  msg: string,
  intervalMs: number,
  now: () => number = Date.now,
): (obj: object) => void {
  let windowStart = -Infinity;
  let suppressed = 0;
  return (obj) => {
    const t = now();
    if (t - windowStart < intervalMs) {
      suppressed++;
      return;
    }
    windowStart = t;
    log(suppressed > 0 ? { ...obj, suppressed } : obj, msg);
    suppressed = 0;
  };
}
