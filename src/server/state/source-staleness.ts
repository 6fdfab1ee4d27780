import { canSee, filterKey, type ClientFilter } from '../fanout/client-filter.js';
import { sourceStatusDelivery, type Delivery } from '../fanout/delivery.js';
import type { Envelope, SourceStatus } from '../../protocol/wire.js';

/** What {@link startStalenessTracker} needs from the resolved options. */
export interface StalenessOptions {
  /** A source is stale after this many of its usual intervals without a metric; `0` turns tracking off. */
  readonly staleAfterIntervals: number;
  /** The shortest silence that makes a source stale, whatever its interval, in milliseconds. */
  readonly staleFloorMs: number;
}

/** Tracks which producers went silent; see {@link startStalenessTracker}. */
export interface StalenessTracker {
  /**
   * Records a valid envelope; only `system_metric` envelopes count. A stale source's metric makes it live again at once.
   * `isReplayed`: read back from the Redis stream rather than received live; it counts as seen at its `time` (never later than now).
   */
  observe(envelope: Envelope, isReplayed?: boolean): void;
  /**
   * One `source_status` packet per source stale now, for a new client's snapshot, narrowed to what `filter`
   * lets through (see `canSee`): a client never learns of sources it may not see. The same array per
   * filter until the next change, so a filter group's snapshots share it.
   */
  staleDeliveries(filter?: ClientFilter | null): readonly Delivery[];
  /** Stops the timer. Idempotent. */
  stop(): void;
}

/**
 * A `source_status` packet for clients, carrying its source where client filters look for it (see `canSee`),
 * so that a client narrowed to some sources receives the status of those only.
 */
export function statusDelivery(status: SourceStatus): Delivery {
  return { ...sourceStatusDelivery(status), source: status.source };
}

/**
 * Metrics of one source within this time of the first are one publication (the sentinel sends cpu, memory
 * and load of one tick together), not an interval: counting their gaps would make every interval ~0.
 */
const BURST_MS = 50;
/** Weight of the newest gap in a source's interval estimate (an exponentially weighted moving average). */
const ALPHA = 0.25;
/** Most sources remembered; past it the least recently seen is forgotten (a stale one, most likely). */
const MAX_TRACKED_SOURCES = 10_000;
/** Narrowed stale lists kept until the next change, one per filter; past it they are all forgotten. */
const MAX_CACHED_FILTERS = 1000;

interface Tracked {
  lastSeen: number;
  /** When the current publication (burst) began. */
  publishedAt: number;
  /** The estimated publishing interval in ms; `0` until a second publication has been seen. */
  intervalMs: number;
  isStale: boolean;
}

/**
 * Learns each `source`'s publishing interval from the gaps between its `system_metric` envelopes and
 * reports, through `onChange`, a `source_status` packet when a source stays silent for
 * `staleAfterIntervals` intervals (at least `staleFloorMs`), and another when it publishes again.
 * Producers on any fixed interval need no configuration. A source seen in one publication only has no
 * interval yet, so it is never reported: a one-off message is not a producer that died.
 *
 * One timer for every source and every client, running only while some source is live; observing a
 * message costs one map update. The gap that ends a stale period counts for at most twice the limit it
 * overran, so an outage (of the producer, or of Redis, when every source goes stale together) teaches
 * the estimate little, while a producer that really slowed down is learnt within a few publications.
 * `onChange` receives every change of one check in one batch.
 */
export function startStalenessTracker(
  options: StalenessOptions,
  onChange: (batch: readonly Delivery[]) => void,
  now: () => number = Date.now,
): StalenessTracker {
  const { staleAfterIntervals, staleFloorMs } = options;
  const sources = new Map<string, Tracked>();
  // A check every quarter of the shortest limit: a source is reported at most 25 % (and at most 1 s) late.
  const checkEveryMs = Math.max(25, Math.min(1000, Math.floor(staleFloorMs / 4)));
  let timer: ReturnType<typeof setInterval> | undefined;
  let stale: readonly Delivery[] | null = [];
  /** `stale` narrowed per filter (by `filterKey`); emptied whenever `stale` is reset. */
  const narrowed = new Map<string, readonly Delivery[]>();
  let stopped = false;

  const limitOf = (s: Tracked): number => Math.max(staleFloorMs, staleAfterIntervals * s.intervalMs);
  const status = (source: string, s: Tracked): SourceStatus => ({
    source,
    status: s.isStale ? 'stale' : 'live',
    last_seen: new Date(s.lastSeen).toISOString(),
  });

  const check = (): void => {
    const t = now();
    const changes: Delivery[] = [];
    let live = 0;
    for (const [source, s] of sources) {
      if (s.isStale || s.intervalMs === 0) continue;
      if (t - s.lastSeen < limitOf(s)) {
        live++;
        continue;
      }
      s.isStale = true;
      changes.push(statusDelivery(status(source, s)));
    }
    if (live === 0) stopTimer(); // nothing left that can go stale; the next metric starts it again
    if (changes.length > 0) {
      stale = null;
      onChange(changes);
    }
  };

  const startTimer = (): void => {
    if (timer !== undefined || stopped) return;
    timer = setInterval(check, checkEveryMs);
    timer.unref?.();
  };
  const stopTimer = (): void => {
    clearInterval(timer);
    timer = undefined;
  };

  return {
    observe(envelope, isReplayed = false) {
      if (envelope.type !== 'system_metric' || staleAfterIntervals === 0 || stopped) return;
      const source = envelope.data.source;
      // A value read back from the Redis stream (loaded at start, or missed during an outage) was seen when
      // it was published: a host that died before a restart must go stale, not count as heard from now.
      const t = isReplayed ? seenAt(envelope.data.time, now()) : now();
      let s = sources.get(source);
      if (s === undefined) {
        s = { lastSeen: t, publishedAt: t, intervalMs: 0, isStale: false };
      } else {
        // Measured from the start of one publication to the start of the next.
        const gap = t - s.publishedAt;
        if (gap >= BURST_MS) {
          const sample = s.isStale ? Math.min(gap, 2 * limitOf(s)) : gap;
          s.intervalMs = s.intervalMs === 0 ? sample : s.intervalMs + ALPHA * (sample - s.intervalMs);
          s.publishedAt = t;
        }
        s.lastSeen = Math.max(s.lastSeen, t);
        sources.delete(source); // re-inserted at the end: map order is recency order
      }
      sources.set(source, s);
      if (sources.size > MAX_TRACKED_SOURCES) {
        const [oldest, forgotten] = sources.entries().next().value as [string, Tracked];
        sources.delete(oldest);
        if (forgotten.isStale) stale = null;
      }
      if (s.intervalMs > 0) startTimer();
      if (s.isStale && now() - s.lastSeen < limitOf(s)) {
        s.isStale = false;
        stale = null;
        onChange([statusDelivery(status(source, s))]);
      }
    },
    staleDeliveries(filter = null) {
      if (stale === null) {
        narrowed.clear();
        stale = [...sources].filter(([, s]) => s.isStale).map(([source, s]) => statusDelivery(status(source, s)));
      }
      const key = filter === null ? '' : filterKey(filter);
      if (key === '' || stale.length === 0) return stale;
      let list = narrowed.get(key);
      if (list === undefined) {
        list = stale.filter((d) => canSee(filter as ClientFilter, d));
        if (narrowed.size >= MAX_CACHED_FILTERS) narrowed.clear();
        narrowed.set(key, list);
      }
      return list;
    },
    stop() {
      stopped = true;
      stopTimer();
    },
  };
}

/** When a replayed metric was published: its `time`, but never later than now (nor unreadable). */
function seenAt(time: string, nowMs: number): number {
  const ms = Date.parse(time);
  return Number.isFinite(ms) ? Math.min(ms, nowMs) : nowMs;
}
