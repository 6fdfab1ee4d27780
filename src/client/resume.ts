// What StreamManager needs to resume without gaps or repeats: the `since` of each connection, and the
// per-key rule that drops what was already passed on. Browser-safe: no Node imports.
import { envelopeKey, type Envelope } from '../protocol/wire.js';

/**
 * How far before the newest `time` received a reconnect asks to start: values of producers whose clocks
 * run up to this much behind the newest one's are still backfilled. What was passed on already is
 * dropped by the per-key rule, so the overlap costs bytes, never a repeat.
 */
export const RESUME_OVERLAP_MS = 2000;
/** Keys remembered for the per-key rule; past it the least recently updated is forgotten. */
const MAX_KEYS = 10_000;
/** Distinct envelopes of one key with the very same `time` remembered (a burst within one millisecond). */
const MAX_SAME_TIME = 16;

interface KeyState {
  timeMs: number;
  /** The envelopes passed on with exactly `timeMs`. */
  readonly atTime: Envelope[];
}

/**
 * The resume bookkeeping of one {@link StreamManager}.
 *
 * The rule that makes repeats impossible: per key (see `envelopeKey`), an envelope is passed on only
 * when its `time` is after the newest `time` passed on for that key, or equal to it while its content
 * differs from every envelope passed on with that `time`. Everything else was passed on already (the
 * backfill after a reconnect overlaps what came before the drop, the snapshot repeats the latest values)
 * or is older than what the key already showed, so it is dropped. Producers therefore must give each
 * key's values increasing times, which every sampler does.
 */
export class ResumeTracker {
  readonly #historyMs: number;
  readonly #isEnabled: boolean;
  readonly #now: () => number;
  readonly #keys = new Map<string, KeyState>();
  #newestMs: number | undefined;
  /** The local clock when the last new envelope arrived: it caps `since` against a producer clock far ahead. */
  #lastNewAtMs: number | undefined;
  #firstSinceMs: number | undefined;
  #opened = 0;

  /**
   * @param historyMs - How much history the first connection asks for (`0`: none, the snapshot only).
   * @param isEnabled - Whether reconnects ask for `since` and the per-key rule applies (`resume` option).
   * @param now - The local clock, in epoch milliseconds.
   */
  constructor(historyMs: number, isEnabled: boolean, now: () => number) {
    this.#historyMs = historyMs;
    this.#isEnabled = isEnabled;
    this.#now = now;
  }

  /**
   * `url` with the `since` this connection asks for, in epoch milliseconds: on the first connection
   * `now - historyMs` (none when `historyMs` is 0); on every later one the newest `time` received less
   * {@link RESUME_OVERLAP_MS} (but no later than the local clock said when it arrived, less the same, in
   * case a producer's clock runs ahead), or, when nothing has arrived yet, what the first one asked for
   * (or the time it was opened).
   */
  url(url: string): string {
    const nowMs = this.#now();
    const isFirst = this.#opened++ === 0;
    if (isFirst) this.#firstSinceMs = this.#historyMs > 0 ? nowMs - this.#historyMs : nowMs;
    const sinceMs = isFirst
      ? this.#historyMs > 0
        ? this.#firstSinceMs
        : undefined
      : this.#isEnabled
        ? this.#newestMs === undefined
          ? this.#firstSinceMs
          : Math.min(this.#newestMs, this.#lastNewAtMs ?? Infinity) - RESUME_OVERLAP_MS
        : undefined;
    if (sinceMs === undefined) return url;
    const withSince = new URL(url);
    withSince.searchParams.set('since', String(Math.max(0, Math.floor(sinceMs))));
    return withSince.href;
  }

  /** Whether `envelope` is new by the per-key rule; records it if so. Always `true` when resuming is off. */
  accept(envelope: Envelope): boolean {
    if (!this.#isEnabled) return true;
    const timeMs = Date.parse(envelope.data.time);
    if (!Number.isFinite(timeMs)) return true; // the server validated it; nothing to compare with
    const key = envelopeKey(envelope);
    const state = this.#keys.get(key);
    if (state !== undefined) {
      if (timeMs < state.timeMs) return false;
      if (timeMs === state.timeMs) {
        const json = JSON.stringify(envelope);
        if (state.atTime.some((seen) => JSON.stringify(seen) === json)) return false;
        if (state.atTime.length < MAX_SAME_TIME) state.atTime.push(envelope);
        this.#lastNewAtMs = this.#now();
        return true;
      }
      this.#keys.delete(key); // re-insert at the end: Map order is recency order
    }
    this.#keys.set(key, { timeMs, atTime: [envelope] });
    if (this.#keys.size > MAX_KEYS) this.#keys.delete(this.#keys.keys().next().value as string);
    if (this.#newestMs === undefined || timeMs > this.#newestMs) this.#newestMs = timeMs;
    this.#lastNewAtMs = this.#now();
    return true;
  }
}
