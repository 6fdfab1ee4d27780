// One client's `?since=` backfill, produced lazily from the history (see HistoryStore.replay in history.ts).
import { CHUNK_BYTES, CHUNK_PACKETS, type Delivery } from '../fanout/delivery.js';
import type { ClientFilter } from '../fanout/client-filter.js';
import type { SnapshotEndPacket } from '../../protocol/wire.js';

/** One packet of a backfill, with what it is sorted by: its time, then the order in which it was delivered. */
export interface Item {
  /** The packet as it was delivered (shared, not copied: its JSON is the one string every client got). */
  readonly delivery: Delivery;
  readonly timeMs: number;
  /** Delivery order: increases with each value recorded. */
  readonly seq: number;
}

/** What a backfill reads from the history (HistoryStore implements it): see its methods there. */
export interface BackfillSource {
  collect(afterSeq: number, endSeq: number, fromMs: number, filter: ClientFilter | null, max: number, items: Item[]): number | null;
  range(sinceMs: number): { fromMs: number; complete: boolean };
  snapshotItems(snapshot: readonly Delivery[], endSeq: number, fromMs: number, items: Item[]): void;
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
  #isLossy = false;
  #isDone = false;
  /** A cut backfill's sifting of what was left, in progress. */
  #sift: Sift | null = null;

  constructor(
    private readonly store: BackfillSource,
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
    return this.#complete && !this.#isCut && !this.#isLossy;
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

  /** Says that values after it were lost to the client (its live packets held meanwhile were dropped): `complete` is then false. */
  markIncomplete(): void {
    this.#isLossy = true;
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
