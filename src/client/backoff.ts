// Reconnect waits for StreamManager. Pure, so tests can check the schedule exactly. Browser-safe.

/**
 * How long reconnect attempt `attempt` (1-based) waits: `backoffMs[min(attempt - 1, backoffMs.length - 1)]`,
 * spread uniformly over ±`jitter` of that value using `random()`, and rounded to whole milliseconds.
 * With `jitter` 0 the wait is exact, so `[2000, 5000, 10000, 30000]` gives 2 s, 5 s, 10 s, 30 s, 30 s, …
 * An `attempt` below 1 (or NaN) counts as 1. Throws `RangeError` when `backoffMs` is empty.
 *
 * @param attempt - The attempt number, 1 for the first retry after a drop.
 * @param backoffMs - The waits in milliseconds; the last one repeats.
 * @param jitter - Fraction of the wait to spread by, from 0 to 1. `0.1` gives a wait within ±10 %.
 * @param random - A source of numbers in [0, 1), like `Math.random`.
 * @public
 */
export function backoffDelay(attempt: number, backoffMs: readonly number[], jitter = 0.1, random: () => number = Math.random): number {
  if (backoffMs.length === 0) throw new RangeError('Expected `backoffMs` to hold at least one wait');
  const base = backoffMs[Math.min(attempt >= 1 ? Math.floor(attempt) : 1, backoffMs.length) - 1] as number;
  if (jitter === 0) return base;
  return Math.round(base * (1 + jitter * (2 * random() - 1)));
}
