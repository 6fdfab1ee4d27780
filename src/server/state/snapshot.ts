import { canSee, filterKey, type ClientFilter } from '../fanout/client-filter.js';
import { envelopeDelivery, snapshotEndDelivery, type Delivery } from '../fanout/delivery.js';
import { envelopeKey, type Envelope } from '../../protocol/wire.js';

/** Filtered snapshots kept until the next change, so that a connection storm filters once per filter. */
const MAX_CACHED_FILTERS = 1000;

/** One key's latest envelope, and its packet, serialized on first use and kept until the key changes. */
interface Latest {
  readonly envelope: Envelope;
  delivery: Delivery | null;
}

/**
 * The latest envelope of every key, for clients that connect later. Holds at most `maxKeys` keys,
 * forgetting the least recently updated. A `resolved` alert removes its series' alert.
 * Each key's envelope is serialized once, when a client first needs it, and kept until that key changes:
 * under live traffic a handshake costs one array of references per change, never a serialization of every
 * key. A WebSocket client receives it as one frame per envelope followed by a `snapshot_end` packet.
 */
export class SnapshotStore {
  readonly #latest = new Map<string, Latest>();
  readonly #maxKeys: number;
  #json: string | null = null;
  #deliveries: readonly Delivery[] | null = null;
  readonly #filtered = new Map<string, readonly Delivery[]>();
  /** Per filter key (`''` for none), the last array handed out with `extra`, so that its chunks and frames are shared. */
  readonly #withExtra = new Map<string, { base: readonly Delivery[]; extra: readonly Delivery[]; deliveries: readonly Delivery[] }>();

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  update(envelope: Envelope, key: string = envelopeKey(envelope)): void {
    this.#json = null;
    this.#deliveries = null;
    this.#filtered.clear();
    this.#withExtra.clear();
    this.#latest.delete(key); // re-insert at the end: Map order is recency order
    if (envelope.type === 'alert' && envelope.data.level === 'resolved') return;
    if (this.#maxKeys === 0) return;
    this.#latest.set(key, { envelope, delivery: null });
    if (this.#latest.size > this.#maxKeys) this.#latest.delete(this.#latest.keys().next().value as string);
  }

  envelopes(): Envelope[] {
    return Array.from(this.#latest.values(), (latest) => latest.envelope);
  }

  /** `{"type":"snapshot","data":[…]}`, limited to what `filter` lets through if given; built from each key's cached JSON. */
  json(filter: ClientFilter | null = null): string {
    if (filter !== null && filterKey(filter) !== '') return snapshotJson(this.deliveries(filter));
    this.#json ??= snapshotJson(this.#all());
    return this.#json;
  }

  /**
   * The snapshot's envelopes, one packet each, limited to what `filter` lets through if given, then
   * `extra` (control packets that describe the current state, such as stale sources), then the
   * `snapshot_end` marker. The same array until the next change (per filter, and per `extra` array, which
   * the staleness tracker hands out unchanged until it changes), so its chunks and frames are built once.
   */
  deliveries(filter: ClientFilter | null = null, extra: readonly Delivery[] = []): readonly Delivery[] {
    const key = filter === null ? '' : filterKey(filter);
    let base = key === '' ? this.#all() : this.#filtered.get(key);
    if (base === undefined) {
      const visible = this.#all()
        .slice(0, -1)
        .filter((d) => canSee(filter as ClientFilter, d));
      base = [...visible, snapshotEndDelivery(visible.length)];
      if (this.#filtered.size >= MAX_CACHED_FILTERS) this.#filtered.clear();
      this.#filtered.set(key, base);
    }
    if (extra.length === 0) return base;
    const cached = this.#withExtra.get(key);
    if (cached !== undefined && cached.base === base && cached.extra === extra) return cached.deliveries;
    const deliveries = [...base.slice(0, -1), ...extra, base.at(-1) as Delivery];
    if (this.#withExtra.size >= MAX_CACHED_FILTERS) this.#withExtra.clear();
    this.#withExtra.set(key, { base, extra, deliveries });
    return deliveries;
  }

  get size(): number {
    return this.#latest.size;
  }

  /** Every key's envelope as a delivery, then the marker: an array of the cached packets, built once per change. */
  #all(): readonly Delivery[] {
    if (this.#deliveries === null) {
      const all: Delivery[] = [];
      for (const [key, latest] of this.#latest) all.push((latest.delivery ??= envelopeDelivery(latest.envelope, key)));
      all.push(snapshotEndDelivery(all.length));
      this.#deliveries = all;
    }
    return this.#deliveries;
  }
}

/** The HTTP snapshot document from the packets' JSON (each the envelope's `JSON.stringify`), without the end marker. */
function snapshotJson(deliveries: readonly Delivery[]): string {
  let json = '{"type":"snapshot","data":[';
  for (let i = 0; i < deliveries.length - 1; i++) json += (i === 0 ? '' : ',') + (deliveries[i] as Delivery).json;
  return `${json}]}`;
}
