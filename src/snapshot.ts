import { canSee, filterKey, type ClientFilter } from './client-filter.js';
import { envelopeDelivery, snapshotEndDelivery, type Delivery } from './delivery.js';
import { envelopeKey, type Envelope } from './protocol.js';

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
      const all = (this.#deliveries ??= toDeliveries([...this.#latest]));
      // Deliveries are in the order of the envelopes they were made from.
      return JSON.stringify({ type: 'snapshot', data: this.envelopes().filter((_, i) => canSee(filter, all[i] as Delivery)) });
    }
    this.#json ??= JSON.stringify({ type: 'snapshot', data: this.envelopes() });
    return this.#json;
  }

  /** The snapshot's envelopes, one packet each, then the `snapshot_end` marker; limited to what `filter` lets through if given. */
  deliveries(filter: ClientFilter | null = null): readonly Delivery[] {
    this.#deliveries ??= toDeliveries([...this.#latest]);
    const key = filter === null ? '' : filterKey(filter);
    if (filter === null || key === '') return this.#deliveries;
    let filtered = this.#filtered.get(key);
    if (filtered === undefined) {
      const visible = this.#deliveries.slice(0, -1).filter((d) => canSee(filter, d));
      filtered = [...visible, snapshotEndDelivery(visible.length)];
      if (this.#filtered.size >= MAX_CACHED_FILTERS) this.#filtered.clear();
      this.#filtered.set(key, filtered);
    }
    return filtered;
  }

  get size(): number {
    return this.#latest.size;
  }
}

function toDeliveries(entries: readonly (readonly [string, Envelope])[]): readonly Delivery[] {
  return [...entries.map(([key, envelope]) => envelopeDelivery(envelope, key)), snapshotEndDelivery(entries.length)];
}
