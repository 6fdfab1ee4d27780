// The stream's memory of the last minutes: every envelope it delivered (after throttling) whose `time` is
// within `historyMs`, per key in delivery order, bounded per key and in total; and the backfill a client
// asks for with `?since=` at the handshake. The rule of the backfill (order, dedupe, completeness) is part
// of the wire contract (asyncapi.yaml) and is stated on {@link HistoryStore.replay}.
import { CHUNK_BYTES, CHUNK_PACKETS, type Delivery } from '../fanout/delivery.js';
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

/** One packet of a backfill, with what it is sorted by: its time, then the order in which it was delivered. */
interface Item {
  /** The packet as it was delivered (shared, not copied: its JSON is the one string every client got). */
  readonly delivery: Delivery;
  readonly timeMs: number;
  /** Delivery order: increases with each value recorded. */
  readonly seq: number;
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
   * Of `snapshot`, the envelopes a backfill also sends: those that are not their key's last value recorded
   * up to `endSeq` with a time at or after `fromMs` (which the backfill sends already).
   * @internal
   */
  snapshotItems(snapshot: readonly Delivery[], endSeq: number, fromMs: number, items: Item[]): void {
    let seq = endSeq;
    for (const delivery of snapshot) {
      if (delivery.key === undefined) continue;
      const last = this.#byKey.get(delivery.key)?.findLast((entry) => entry.seq <= endSeq);
      if (last !== undefined && !last.evicted && last.timeMs >= fromMs && last.delivery.json === delivery.json) continue;
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

/**
 * One client's `?since=` backfill, produced lazily: nothing is gathered until the first {@link Backfill.next}
 * (which the fan-out calls once a replay slot is free), gathering runs in slices of a few milliseconds, and
 * each later call builds one chunk of about 64 KB, so the whole backfill never exists as one array of
 * packets or one buffer. What it holds meanwhile is one reference per packet still to send (800 KB for
 * 100,000 values), and nothing once {@link Backfill.close}d.
 *
 * A backfill that the client cannot take (its socket stays full) is {@link Backfill.cut}: of the values still
 * to send, only each key's latest is sent, and its `snapshot_end` says `complete: false`.
 */
export class Backfill {
  /** The packets gathered so far; sorted once gathering is done. */
  #items: Item[] | null = null;
  /** Gathering: the `seq` of the last value looked at, or `null` once done. */
  #afterSeq: number | null = 0;
  #fromMs = 0;
  #pos = 0;
  #sent = 0;
  #complete = false;
  #isCut = false;
  #isDone = false;
  /** A cut backfill's sifting of what was left, in progress. */
  #sift: Sift | null = null;

  constructor(
    private readonly store: HistoryStore,
    private readonly endSeq: number,
    private readonly sinceMs: number,
    private snapshot: readonly Delivery[],
    private readonly filter: ClientFilter | null,
    private extra: readonly Delivery[],
  ) {}

  /** Whether it has begun to gather its packets (the first {@link Backfill.next}). */
  get isStarted(): boolean {
    return this.#items !== null || this.#isDone;
  }

  /** Whether its `snapshot_end` says `complete: true` (known once started; `false` once cut). */
  get complete(): boolean {
    return this.#complete && !this.#isCut;
  }

  /** Whether it was cut. */
  get isCut(): boolean {
    return this.#isCut;
  }

  /**
   * Gathers the next {@link GATHER_SLICE} values held (a few milliseconds), and once all are gathered, the
   * snapshot's envelopes and the sort. Returns whether it is ready to send.
   */
  gather(): boolean {
    if (this.#isDone) return true;
    if (this.#items === null) {
      const { fromMs, complete } = this.store.range(this.sinceMs);
      this.#items = [];
      this.#fromMs = fromMs;
      this.#complete = complete;
    }
    if (this.#afterSeq === null) return true;
    const items = this.#items;
    this.#afterSeq = this.store.collect(this.#afterSeq, this.endSeq, this.#fromMs, this.filter, GATHER_SLICE, items);
    if (this.#afterSeq !== null) return false;
    this.store.snapshotItems(this.snapshot, this.endSeq, this.#fromMs, items);
    this.snapshot = [];
    // Usually in time order already (values are delivered as they are made): then the sort is skipped.
    if (!isSorted(items)) items.sort(byTimeThenSeq);
    return true;
  }

  /**
   * One slice of the work that needs no socket (gathering, or sifting what is left after a cut); returns
   * whether none is left.
   */
  prepare(): boolean {
    return this.gather() && (this.#sift === null || this.#sifting());
  }

  /**
   * The next chunk to write, ending with `extra` and the `snapshot_end` packet; `null` once all is out. An
   * empty chunk while it is still gathering (each call gathers one slice): call again.
   */
  next(): readonly Delivery[] | null {
    if (this.#isDone) return null;
    if (!this.prepare()) return [];
    const items = this.#items as Item[];
    if (this.#pos >= items.length) return this.#end();
    const chunk: Delivery[] = [];
    let bytes = 0;
    while (this.#pos < items.length && chunk.length < CHUNK_PACKETS) {
      const { delivery } = items[this.#pos] as Item;
      if (chunk.length > 0 && bytes + delivery.json.length > CHUNK_BYTES) break;
      chunk.push(delivery);
      bytes += delivery.json.length;
      this.#pos++;
    }
    this.#sent += chunk.length;
    return chunk;
  }

  /**
   * Sends, of what is still to send, only each key's latest value (a chart then lacks the values between,
   * but knows every key's current value), and marks the backfill incomplete. The rest is sifted in slices
   * by the next calls of {@link Backfill.next}.
   */
  cut(): void {
    if (this.#isDone || this.#isCut) return;
    this.#isCut = true;
    this.#sift = { index: -1, seen: new Set(), latest: [] };
  }

  /** Sifts one slice of a cut backfill (newest first); returns whether it is done. */
  #sifting(): boolean {
    const sift = this.#sift as Sift;
    const items = this.#items as Item[];
    if (sift.index === -1) sift.index = items.length - 1;
    const stop = Math.max(this.#pos, sift.index - GATHER_SLICE);
    for (; sift.index >= stop; sift.index--) {
      const item = items[sift.index] as Item;
      const key = item.delivery.key ?? '';
      if (sift.seen.has(key)) continue;
      sift.seen.add(key);
      sift.latest.push(item);
    }
    if (sift.index >= this.#pos) return false;
    this.#items = sift.latest.reverse();
    this.#pos = 0;
    this.#sift = null;
    return true;
  }

  /** Lets go of everything it holds (the client has gone). */
  close(): void {
    this.#isDone = true;
    this.#items = null;
    this.#sift = null;
    this.snapshot = [];
    this.extra = [];
  }

  /** Every chunk at once: for tests and small backfills. */
  toArray(): Delivery[] {
    const all: Delivery[] = [];
    for (let chunk = this.next(); chunk !== null; chunk = this.next()) all.push(...chunk);
    return all;
  }

  #end(): readonly Delivery[] {
    const end: SnapshotEndPacket = {
      type: 'snapshot_end',
      data: { count: this.#sent, since: new Date(this.sinceMs).toISOString(), complete: this.complete },
    };
    const tail = [...this.extra, { type: 'snapshot_end' as const, json: JSON.stringify(end), conflationKey: null, time: null }];
    this.close();
    return tail;
  }
}

/** Values a backfill looks at in one step of gathering or sifting: a few milliseconds of work. */
const GATHER_SLICE = 5000;

/** The state of a cut backfill's sifting: from the newest down, the keys met and each one's latest value. */
interface Sift {
  index: number;
  readonly seen: Set<string>;
  readonly latest: Item[];
}

function byTimeThenSeq(a: Item, b: Item): number {
  return a.timeMs - b.timeMs || a.seq - b.seq;
}

function isSorted(items: readonly Item[]): boolean {
  for (let i = 1; i < items.length; i++) if (byTimeThenSeq(items[i - 1] as Item, items[i] as Item) > 0) return false;
  return true;
}

/**
 * An RFC 3339 date-time as the message schema accepts it (`T`, `t` or a space between date and time; `Z`,
 * `z`, `±hh`, `±hhmm` or `±hh:mm`; any number of fraction digits; a leap second `:60`), in milliseconds since
 * the epoch; `NaN` when it is not one. `Date.parse` refuses some of these (`+05`, `:60`): a value whose
 * time it cannot read would be missing from a backfill that says it is complete. A leap second counts as
 * the first millisecond of the next minute, its fraction ignored.
 */
export function parseTime(text: string): number {
  const m = DATE_TIME.exec(text);
  if (m === null) return NaN;
  const [, y, mo, d, h, mi, s, fraction, zone, sign, zh, zm] = m as unknown as string[];
  const second = Number(s);
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC, which reads the years 0-99 as 1900-1999; a second of 60 rolls over.
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), second, second === 60 ? 0 : Math.floor(Number(`0.${fraction ?? '0'}`) * 1000 + 1e-6));
  const utc = date.getTime();
  if (zone === undefined || /^z$/i.test(zone)) return utc;
  const offsetMs = (Number(zh) * 60 + Number(zm ?? 0)) * 60_000;
  return sign === '-' ? utc + offsetMs : utc - offsetMs;
}
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2})(?::?(\d{2}))?)$/;

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
