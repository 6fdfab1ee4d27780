import { envelopeDelivery, snapshotEndDelivery, type Delivery } from './delivery.js';
import { envelopeKey, type Envelope } from './protocol/wire.js';

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
  #withExtra: { base: readonly Delivery[]; extra: readonly Delivery[]; deliveries: readonly Delivery[] } | null = null;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  update(envelope: Envelope, key: string = envelopeKey(envelope)): void {
    this.#json = null;
    this.#deliveries = null;
    this.#latest.delete(key); // re-insert at the end: Map order is recency order
    if (envelope.type === 'alert' && envelope.data.level === 'resolved') return;
    if (this.#maxKeys === 0) return;
    this.#latest.set(key, envelope);
    if (this.#latest.size > this.#maxKeys) this.#latest.delete(this.#latest.keys().next().value as string);
  }

  envelopes(): Envelope[] {
    return [...this.#latest.values()];
  }

  /** `{"type":"snapshot","data":[…]}`, limited to `types` if given. */
  json(types: ReadonlySet<string> | null = null): string {
    if (types !== null) {
      return JSON.stringify({ type: 'snapshot', data: this.envelopes().filter((e) => types.has(e.type)) });
    }
    this.#json ??= JSON.stringify({ type: 'snapshot', data: this.envelopes() });
    return this.#json;
  }

  /**
   * The snapshot's envelopes, one packet each, then `extra` (control packets that describe the current
   * state, such as stale sources), then the `snapshot_end` marker; limited to `types` if given.
   * Without types and extras it is the same array until the next change, so its frames are built once.
   */
  deliveries(types: ReadonlySet<string> | null = null, extra: readonly Delivery[] = []): readonly Delivery[] {
    if (types !== null) return toDeliveries([...this.#latest].filter(([, e]) => types.has(e.type)), extra);
    this.#deliveries ??= toDeliveries([...this.#latest], []);
    if (extra.length === 0) return this.#deliveries;
    // Cached per `extra` array too (the staleness tracker hands out the same one until it changes).
    if (this.#withExtra?.extra !== extra || this.#withExtra.base !== this.#deliveries) {
      const base = this.#deliveries;
      this.#withExtra = { base, extra, deliveries: [...base.slice(0, -1), ...extra, base.at(-1) as Delivery] };
    }
    return this.#withExtra.deliveries;
  }

  get size(): number {
    return this.#latest.size;
  }
}

function toDeliveries(entries: readonly (readonly [string, Envelope])[], extra: readonly Delivery[]): readonly Delivery[] {
  return [...entries.map(([key, envelope]) => envelopeDelivery(envelope, key)), ...extra, snapshotEndDelivery(entries.length)];
}
