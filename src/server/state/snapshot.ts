import { canSee, filterKey, type ClientFilter } from '../fanout/client-filter.js';
import { envelopeDelivery, snapshotEndDelivery, type Delivery } from '../fanout/delivery.js';
import { envelopeKey, type Envelope } from '../../protocol/wire.js';

/** Filtered snapshots kept until the next change, so that a connection storm filters once per filter. */
const MAX_CACHED_FILTERS = 1000;

/**
 * The latest envelope of every key, for clients that connect later. Holds at most `maxKeys` keys,
 * forgetting the least recently updated. A `resolved` alert removes its series' alert. The serialized
 * snapshot is cached until the next change, so a connection storm serializes it once.
 * A WebSocket client receives it as one frame per envelope followed by a `snapshot_end` packet.
 */
export class SnapshotStore {
  readonly #latest = new Map<string, Envelope>();
  readonly #maxKeys: number;
  #json: string | null = null;
  #deliveries: readonly Delivery[] | null = null;
  readonly #filtered = new Map<string, readonly Delivery[]>();
  #withExtra: { base: readonly Delivery[]; extra: readonly Delivery[]; deliveries: readonly Delivery[] } | null = null;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  update(envelope: Envelope, key: string = envelopeKey(envelope)): void {
    this.#json = null;
    this.#deliveries = null;
    this.#filtered.clear();
    this.#latest.delete(key); // re-insert at the end: Map order is recency order
    if (envelope.type === 'alert' && envelope.data.level === 'resolved') return;
    if (this.#maxKeys === 0) return;
    this.#latest.set(key, envelope);
    if (this.#latest.size > this.#maxKeys) this.#latest.delete(this.#latest.keys().next().value as string);
  }

  envelopes(): Envelope[] {
    return [...this.#latest.values()];
  }

  /** `{"type":"snapshot","data":[…]}`, limited to what `filter` lets through if given. */
  json(filter: ClientFilter | null = null): string {
    if (filter !== null && filterKey(filter) !== '') {
      const all = this.#all();
      // Deliveries are in the order of the envelopes they were made from.
      return JSON.stringify({ type: 'snapshot', data: this.envelopes().filter((_, i) => canSee(filter, all[i] as Delivery)) });
    }
    this.#json ??= JSON.stringify({ type: 'snapshot', data: this.envelopes() });
    return this.#json;
  }

  /**
   * The snapshot's envelopes, one packet each, limited to what `filter` lets through if given, then
   * `extra` (control packets that describe the current state, such as stale sources), then the
   * `snapshot_end` marker. The same array until the next change (per filter, and per `extra` array, which
   * the staleness tracker hands out unchanged until it changes), so its frames are built once.
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
    if (key !== '') return [...base.slice(0, -1), ...extra, base.at(-1) as Delivery];
    if (this.#withExtra?.extra !== extra || this.#withExtra.base !== base) {
      this.#withExtra = { base, extra, deliveries: [...base.slice(0, -1), ...extra, base.at(-1) as Delivery] };
    }
    return this.#withExtra.deliveries;
  }

  get size(): number {
    return this.#latest.size;
  }

  /** Every key's envelope as a delivery, then the marker: built once per change. */
  #all(): readonly Delivery[] {
    this.#deliveries ??= toDeliveries([...this.#latest]);
    return this.#deliveries;
  }
}

function toDeliveries(entries: readonly (readonly [string, Envelope])[]): readonly Delivery[] {
  return [...entries.map(([key, envelope]) => envelopeDelivery(envelope, key)), snapshotEndDelivery(entries.length)];
}
