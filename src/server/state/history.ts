// The stream's memory of the last minutes: every envelope it delivered (after throttling) whose `time` is
// within `historyMs`, per key in delivery order, bounded per key and in total; and the backfill a client
// asks for with `?since=` at the handshake. The rule of the backfill (order, dedupe, completeness) is part
// of the wire contract (asyncapi.yaml) and is stated on {@link HistoryStore.replay}.
import type { Delivery } from '../fanout/delivery.js';
import { canSee, type ClientFilter } from '../fanout/client-filter.js';
import type { SnapshotEndPacket } from '../../protocol/wire.js';

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

// Kept small on purpose (it is held per value): the JSON already built for the wire and the time, but
// not the Delivery, whose key and time strings would cost more than the rest of the entry.
interface Entry {
  /** The packet as it was delivered (shared, not copied: its JSON is the one string every client got). */
  readonly delivery: Delivery;
  readonly timeMs: number;
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

/** What a `?since=` backfill sends: the frames before `snapshot_end`, and whether they are complete. */
export interface Replay {
  readonly deliveries: readonly Delivery[];
  readonly complete: boolean;
}

/**
 * Every envelope delivered in the last `historyMs` (by its `time`), per key in delivery order. Each key
 * holds at most `maxPerKey` values and all keys together at most `maxEntries`; past either bound the
 * oldest delivered goes first. Values are recorded when their batch goes out to clients (after the
 * throttle, so at the throttled resolution), which is also the moment a new client's live data starts:
 * a backfill and the live data after it never share a value.
 */
export class HistoryStore {
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
      const timeMs = Date.parse(delivery.time);
      if (!Number.isFinite(timeMs)) continue;
      let values = this.#byKey.get(delivery.key);
      if (values === undefined) this.#byKey.set(delivery.key, (values = new KeyValues(delivery.key)));
      const entry: Entry = { delivery, timeMs, values, evicted: false };
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
   * The frames a client that asked for `?since=sinceMs` receives before live data, ending with the
   * `snapshot_end` packet. They are the union of
   * - every value held with `time` at or after `sinceMs` (and within `historyMs` of now), and
   * - the snapshot's latest envelope of every key (`snapshot`, without its end marker), so that a key
   *   whose last change is older than `sinceMs` (a container started an hour ago) is known too,
   *
   * each value once (the snapshot's envelope of a key is left out when it is that key's last held value),
   * sorted by `time`, oldest first; values with the same `time` keep the order in which they were
   * delivered, and a snapshot envelope not held (still waiting out its throttle window) comes after them.
   * So every key's values arrive in time order and a chart can draw them as they come.
   * `complete` says whether every value delivered after `sinceMs` is held (see `snapshot_end.complete`).
   * `extra` (control packets on the current state, such as stale sources) goes right before the end.
   */
  replay(sinceMs: number, snapshot: readonly Delivery[], filter: ClientFilter | null, extra: readonly Delivery[] = []): Replay {
    this.#trim();
    const now = this.#now();
    const fromMs = Math.max(sinceMs, now - this.#historyMs);
    const items: { readonly delivery: Delivery; readonly timeMs: number; readonly order: number }[] = [];
    if (this.#historyMs > 0) {
      this.#all.forEach((entry) => {
        if (entry.evicted || entry.timeMs < fromMs) return;
        if (filter !== null && !canSee(filter, entry.delivery)) return;
        items.push({ delivery: entry.delivery, timeMs: entry.timeMs, order: items.length });
      });
    }
    const held = items.length;
    for (const delivery of snapshot) {
      if (delivery.key === undefined) continue;
      const last = this.#byKey.get(delivery.key)?.last();
      if (last !== undefined && last.timeMs >= fromMs && last.delivery.json === delivery.json) continue; // sent above
      const timeMs = delivery.time == null ? NaN : Date.parse(delivery.time);
      items.push({ delivery, timeMs: Number.isFinite(timeMs) ? timeMs : -Infinity, order: held + items.length });
    }
    items.sort((a, b) => a.timeMs - b.timeMs || a.order - b.order);
    const complete =
      this.#historyMs > 0 && sinceMs >= this.#completeFromMs && sinceMs >= now - this.#historyMs && sinceMs > this.#boundEvictedMs;
    const end: SnapshotEndPacket = {
      type: 'snapshot_end',
      data: { count: items.length, since: new Date(sinceMs).toISOString(), complete },
    };
    return {
      deliveries: [
        ...items.map((item) => item.delivery),
        ...extra,
        { type: 'snapshot_end', json: JSON.stringify(end), conflationKey: null, time: null },
      ],
      complete,
    };
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

/** The largest epoch-milliseconds value a `since` may have: what a Date can hold. */
const MAX_TIME_MS = 8.64e15;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

/**
 * The `since` query parameter of a request URL, in milliseconds since the epoch: `undefined` when there
 * is none, `null` when it is not one valid value (answered 400). Accepted: epoch milliseconds (digits
 * only) or an ISO-8601 date-time with a timezone (`Z` or `±hh:mm`). A `+` offset sent unencoded arrives
 * as a space (form encoding) and is read as `+`.
 */
export function sinceOf(url: string | undefined): number | null | undefined {
  const query = url?.includes('?') ? new URLSearchParams(url.slice(url.indexOf('?') + 1)) : undefined;
  const values = query?.getAll('since') ?? [];
  if (values.length === 0) return undefined;
  if (values.length > 1) return null;
  const raw = (values[0] as string).replace(/ (\d{2}:\d{2})$/, '+$1');
  let ms: number;
  if (/^\d{1,16}$/.test(raw)) ms = Number(raw);
  else if (ISO_TIME.test(raw)) ms = Date.parse(raw);
  else return null;
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS ? ms : null;
}
