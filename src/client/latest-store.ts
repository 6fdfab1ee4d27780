// What a StreamManager knows of the stream, and how what arrives changes it: the latest envelope of every
// key and the sources the server reports stale. Each snapshot replaces both at once; live envelopes and
// `source_status` packets update them; then each is passed to the listeners. The same for what the server
// sends and what the leader tab relays. Browser-safe.
import { envelopeKey, type Envelope, type SourceStatus } from '../protocol/wire.js';
import { ANY_ENVELOPE, type Listeners } from './listeners.js';
import type { ResolvedOptions } from './client-options.js';
import type { StreamDiscard } from './types.js';

/**
 * Most keys `latest()` holds: twice the server's default snapshot (`maxSnapshotKeys`, 10,000). Past it the
 * least recently updated key is forgotten, as on the server, so a server that sends ever new keys cannot
 * grow a dashboard's memory without bound.
 */
export const MAX_LATEST_KEYS = 20_000;
/** Most stale sources remembered (the server tracks at most 10,000 sources); past it the least recently reported is forgotten. */
export const MAX_STALE_SOURCES = 10_000;

/**
 * A function that deletes the oldest entries of `map` (insertion order) until it holds at most `max`. It
 * keeps one iterator, so each call costs the entries it deletes: a fresh `map.keys()` per call would step
 * over every entry deleted before it, which makes a stream of new keys quadratic.
 */
function trimmer(map: Map<string, unknown>): (max: number) => void {
  // Everything before the iterator's position has been deleted (or moved to the end by an update), so its
  // next key is always the oldest.
  let keys = map.keys();
  return (max) => {
    while (map.size > max) {
      let next = keys.next();
      if (next.done) next = (keys = map.keys()).next();
      map.delete(next.value as string);
    }
  };
}

/** See {@link createLatestStore}. */
export interface LatestStore {
  /** The latest envelope of every key, as a new map. */
  latest(): Map<string, Envelope>;
  /** The stale sources by `source`, as a new map. */
  staleSources(): Map<string, SourceStatus>;
  /** The contents as a snapshot, for a tab that joins now; `undefined` until there has been a snapshot. */
  contents(): { envelopes: Envelope[]; stale: SourceStatus[] } | undefined;
  /**
   * A snapshot replaces the latest values and the stale sources at once, then is passed on; `isCurrent`
   * stops the passing when a listener closed the manager (or, in a follower, left the tabs).
   */
  /** Replaces `latest()` with the snapshot's envelopes, then passes on those `isNew` accepts (all by default). */
  applySnapshot(
    envelopes: readonly Envelope[],
    stale: readonly SourceStatus[],
    isCurrent: () => boolean,
    isNew?: (envelope: Envelope) => boolean,
  ): void;
  /** A live envelope becomes the latest of its key (a `resolved` alert removes its series' alert), then is passed on. */
  applyEnvelope(envelope: Envelope): void;
  /** A live `source_status`: a `stale` source is added, any other status removes it; then it is passed on. */
  applySourceStatus(status: SourceStatus): void;
  /** A frame the connection did not use as sent: counted per reason and passed on as a `discarded` event. */
  discarded(reason: StreamDiscard['reason'], detail: string): void;
}

/** An empty store that passes what it applies to `listeners`; `o.timers` dates a source that a snapshot reports live again. */
export function createLatestStore(o: Pick<ResolvedOptions, 'timers'>, listeners: Listeners): LatestStore {
  /** In recency order, as on the server. */
  const latest = new Map<string, Envelope>();
  /** The sources the server reports stale, by source. */
  let stale = new Map<string, SourceStatus>();
  /** Whether a snapshot was ever applied (from the server, or from the leader tab): what a joining tab may be given. */
  let hasSnapshot = false;
  const discards = new Map<StreamDiscard['reason'], number>();
  const trimLatest = trimmer(latest);
  let trimStale = trimmer(stale);

  const store = (envelope: Envelope): void => {
    const key = envelopeKey(envelope);
    latest.delete(key); // re-insert at the end: map order is recency order, as on the server
    if (envelope.type !== 'alert' || envelope.data.level !== 'resolved') latest.set(key, envelope);
    trimLatest(MAX_LATEST_KEYS);
  };
  const deliver = (envelope: Envelope): void => {
    listeners.emit(envelope.type, envelope);
    listeners.emit(ANY_ENVELOPE, envelope);
  };

  return {
    latest: () => new Map(latest),
    staleSources: () => new Map(stale),
    contents: () => (hasSnapshot ? { envelopes: [...latest.values()], stale: [...stale.values()] } : undefined),
    applySnapshot(envelopes, statuses, isCurrent, isNew = () => true) {
      hasSnapshot = true;
      latest.clear();
      for (const envelope of envelopes) store(envelope);
      const before = stale;
      stale = new Map(statuses.filter((s) => s.status === 'stale').map((s) => [s.source, s]));
      trimStale = trimmer(stale);
      trimStale(MAX_STALE_SOURCES);
      listeners.emit('snapshot', envelopes);
      for (const envelope of envelopes.filter(isNew)) {
        if (!isCurrent()) return;
        deliver(envelope);
      }
      const changes = [...stale.values()];
      const now = new Date(o.timers.now()).toISOString();
      for (const source of before.keys()) if (!stale.has(source)) changes.push({ source, status: 'live', last_seen: now });
      for (const change of changes) {
        if (!isCurrent()) return;
        listeners.emit('source_status', change);
      }
    },
    applyEnvelope(envelope) {
      store(envelope);
      deliver(envelope);
    },
    applySourceStatus(status) {
      stale.delete(status.source); // re-inserted at the end: map order is recency order
      if (status.status === 'stale') stale.set(status.source, status);
      trimStale(MAX_STALE_SOURCES);
      listeners.emit('source_status', status);
    },
    discarded(reason, detail) {
      const count = (discards.get(reason) ?? 0) + 1;
      discards.set(reason, count);
      listeners.emit('discarded', { reason, detail, count } satisfies StreamDiscard);
    },
  };
}
