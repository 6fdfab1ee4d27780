// The stream's memory of the last minutes: every envelope it delivered (after throttling) whose `time` is
// within `historyMs`, per key in delivery order, bounded per key and in total; and the backfill a client
// asks for with `?since=` at the handshake. The rule of the backfill (order, dedupe, completeness) is part
// of the wire contract (asyncapi.yaml) and is stated on {@link HistoryStore.replay}.
import type { Delivery } from '../fanout/delivery.js';
import { canSee, type ClientFilter } from '../fanout/client-filter.js';
import { Backfill, type BackfillSource, type Item } from './backfill.js';
import { parseTime } from './time.js';

export interface HistoryOptions {
  /** How far back values are kept, by their `time`; `0` keeps nothing. */
  readonly historyMs: number;
  /** Most values kept for one key; past it the key's oldest is forgotten. */
  readonly maxPerKey: number;
  /** Most values kept for all keys together; past it the oldest delivered is forgotten. */
  readonly maxEntries: number;
  /** The clock (milliseconds since the epoch). */
  readonly now?: () => number;
}

/** A FIFO over an array: amortised O(1) push and shift. */
class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  last(): T | undefined {
    return this.length > 0 ? this.#items[this.#items.length - 1] : undefined;
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) this.compact(() => true);
    return item;
  }

  /** The newest item `match` accepts, searching from the newest. */
  findLast(match: (item: T) => boolean): T | undefined {
    for (let i = this.#items.length - 1; i >= this.#head; i--) if (match(this.#items[i] as T)) return this.#items[i];
    return undefined;
  }

  /**
   * Visits up to `max` items from the first one `isAfter` accepts (items must be ordered so that `isAfter`
   * is false, then true: found by binary search); returns the last item visited.
   */
  visitFrom(isAfter: (item: T) => boolean, max: number, visit: (item: T) => void): T | undefined {
    let lo = this.#head;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (isAfter(this.#items[mid] as T)) hi = mid;
      else lo = mid + 1;
    }
    const end = Math.min(this.#items.length, lo + max);
    for (let i = lo; i < end; i++) visit(this.#items[i] as T);
    return end > lo ? this.#items[end - 1] : undefined;
  }

  forEach(visit: (item: T) => void): void {
    for (let i = this.#head; i < this.#items.length; i++) visit(this.#items[i] as T);
  }

  /** Drops the spent head and every item `keep` refuses. */
  compact(keep: (item: T) => boolean): void {
    const kept: T[] = [];
    this.forEach((item) => {
      if (keep(item)) kept.push(item);
    });
    this.#items = kept;
    this.#head = 0;
  }
}

// Kept small on purpose (it is held per value).
interface Entry extends Item {
  /** The key's values; its `key` names them. */
  readonly values: KeyValues;
  evicted: boolean;
}

/** One key's values, oldest delivered first. */
class KeyValues extends Queue<Entry> {
  constructor(readonly key: string) {
    super();
  }
}

/**
 * Every envelope delivered in the last `historyMs` (by its `time`), per key in delivery order. Each key
 * holds at most `maxPerKey` values and all keys together at most `maxEntries`; past either bound the
 * oldest delivered goes first. Values are recorded when their batch goes out to clients (after the
 * throttle, so at the throttled resolution), which is also the moment a new client's live data starts:
 * a backfill and the live data after it never share a value.
 */
export class HistoryStore implements BackfillSource {
  readonly #historyMs: number;
  readonly #maxPerKey: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #byKey = new Map<string, KeyValues>();
  /** Every entry in delivery order, including forgotten ones not yet compacted away. */
  readonly #all = new Queue<Entry>();
  #size = 0;
  /** Values with a `time` before this may be missing: before the store started, or before a gap in what it received. */
  #completeFromMs: number;
  /** The newest `time` forgotten because of a bound rather than age. */
  #boundEvictedMs = -Infinity;
  /** The `seq` of the last value recorded. */
  #seq = 0;

  constructor(options: HistoryOptions) {
    this.#historyMs = options.historyMs;
    this.#maxPerKey = options.maxPerKey;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
    this.#completeFromMs = this.#now();
  }

  /** Values held now, all keys together. */
  get size(): number {
    return this.#size;
  }

  /** Keys with at least one value held. */
  get keys(): number {
    return this.#byKey.size;
  }

  /** Records the envelopes of a batch that is going out to clients; control packets are ignored. */
  record(batch: readonly Delivery[]): void {
    if (this.#historyMs === 0) return;
    for (const delivery of batch) {
      if (delivery.key === undefined || delivery.time == null) continue;
      const timeMs = parseTime(delivery.time);
      if (!Number.isFinite(timeMs)) {
        // Not a time (the schema lets none through): the value cannot be placed, so it is not held, and a
        // backfill from before now cannot say it is complete.
        this.markGap();
        continue;
      }
      let values = this.#byKey.get(delivery.key);
      if (values === undefined) this.#byKey.set(delivery.key, (values = new KeyValues(delivery.key)));
      const entry: Entry = { delivery, timeMs, seq: ++this.#seq, values, evicted: false };
      values.push(entry);
      this.#all.push(entry);
      this.#size++;
      if (values.length > this.#maxPerKey) this.#forget(values.shift() as Entry, true);
    }
    this.#trim();
  }

  /**
   * Says that values may be missing from now back to the last one recorded: the stream lost messages
   * (its Redis subscriber was disconnected and nothing recovered them). A backfill from before now is
   * then reported incomplete.
   */
  markGap(): void {
    this.#completeFromMs = Math.max(this.#completeFromMs, this.#now());
  }

  /**
   * Says that the store also holds what was delivered from `fromMs` on, although it started later: it was
   * loaded from a Redis stream holding the values since then.
   */
  markLoaded(fromMs: number): void {
    this.#completeFromMs = Math.min(this.#completeFromMs, fromMs);
  }

  /**
   * The backfill of a client that asked for `?since=sinceMs`, fixed now (it holds what was recorded up to
   * this call, so that it and the client's live data, which starts now, never share a value) and produced
   * later, chunk by chunk, as the client's socket drains (see {@link Backfill}). Its packets are the union of
   * - every value held with `time` at or after `sinceMs` (and within `historyMs` of now), and
   * - the snapshot's latest envelope of every key (`snapshot`, without its end marker), so that a key
   *   whose last change is older than `sinceMs` (a container started an hour ago) is known too,
   *
   * each value once (the snapshot's envelope of a key is left out when it is that key's last held value),
   * sorted by `time`, oldest first; values with the same `time` keep the order in which they were
   * delivered, and a snapshot envelope not held (still waiting out its throttle window) comes after them.
   * So every key's values arrive in time order and a chart can draw them as they come.
   * `extra` (control packets on the current state, such as stale sources) goes right before the end, which
   * is a `snapshot_end` packet saying whether every value delivered after `sinceMs` was sent (`complete`).
   */
  replay(sinceMs: number, snapshot: readonly Delivery[], filter: ClientFilter | null, extra: readonly Delivery[] = []): Backfill {
    return new Backfill(this, this.#seq, sinceMs, snapshot, filter, extra);
  }

  /**
   * Part of a backfill (see {@link HistoryStore.replay}): the values held that were recorded after `afterSeq`
   * and up to `endSeq`, with `time` at or after `fromMs` and visible to `filter`, at most `max` of them looked
   * at, appended to `items`. Returns the `seq` of the last value looked at, or `null` when none is left.
   * @internal
   */
  collect(afterSeq: number, endSeq: number, fromMs: number, filter: ClientFilter | null, max: number, items: Item[]): number | null {
    if (this.#historyMs === 0 || afterSeq >= endSeq) return null;
    const last = this.#all.visitFrom(
      (entry) => entry.seq > afterSeq,
      max,
      (entry) => {
        if (entry.evicted || entry.seq > endSeq || entry.timeMs < fromMs) return;
        if (filter !== null && !canSee(filter, entry.delivery)) return;
        items.push(entry);
      },
    );
    return last === undefined || last.seq >= endSeq ? null : last.seq;
  }

  /**
   * Where a backfill from `sinceMs` starts now (`fromMs`: not before `historyMs` ago), and whether the
   * history holds every value delivered after `sinceMs`.
   * @internal
   */
  range(sinceMs: number): { fromMs: number; complete: boolean } {
    this.#trim();
    const now = this.#now();
    return {
      fromMs: Math.max(sinceMs, now - this.#historyMs),
      complete:
        this.#historyMs > 0 && sinceMs >= this.#completeFromMs && sinceMs >= now - this.#historyMs && sinceMs > this.#boundEvictedMs,
    };
  }

  /**
   * Of `snapshot`, the envelopes a backfill also sends: those of keys with no value recorded up to `endSeq`
   * with a time at or after `fromMs` (for the others the backfill sends what was delivered, as a client
   * connected all along received it).
   * @internal
   */
  snapshotItems(snapshot: readonly Delivery[], endSeq: number, fromMs: number, items: Item[]): void {
    let seq = endSeq;
    for (const delivery of snapshot) {
      if (delivery.key === undefined) continue;
      const last = this.#byKey.get(delivery.key)?.findLast((entry) => entry.seq <= endSeq);
      // A key the history holds in the range: the backfill has what was delivered; a newer snapshot value (waiting
      // in its throttle window, or one the throttle dropped) is on its way live, or never went to anyone.
      if (last !== undefined && !last.evicted && last.timeMs >= fromMs) continue;
      const timeMs = delivery.time == null ? NaN : parseTime(delivery.time);
      items.push({ delivery, timeMs: Number.isFinite(timeMs) ? timeMs : -Infinity, seq: ++seq });
    }
  }

  #forget(entry: Entry, byBound: boolean): void {
    entry.evicted = true;
    this.#size--;
    if (byBound) this.#boundEvictedMs = Math.max(this.#boundEvictedMs, entry.timeMs);
  }

  /** Forgets, oldest delivered first, what is past `historyMs` or over `maxEntries`. */
  #trim(): void {
    const cutoffMs = this.#now() - this.#historyMs;
    for (let head = this.#all.peek(); head !== undefined; head = this.#all.peek()) {
      if (!head.evicted) {
        const isOld = head.timeMs < cutoffMs;
        if (!isOld && this.#size <= this.#maxEntries) break;
        // The oldest delivered value is also the oldest of its key: both are in delivery order.
        const { values } = head;
        values.shift();
        if (values.length === 0) this.#byKey.delete(values.key);
        this.#forget(head, !isOld);
      }
      this.#all.shift();
    }
    // Values forgotten by the per-key bound stay in #all until they reach its head: compact it
    // when they outnumber the values held.
    if (this.#all.length > 2 * this.#size + 1024) this.#all.compact((entry) => !entry.evicted);
  }
}
