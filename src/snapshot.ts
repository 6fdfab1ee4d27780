import { envelopeKey, type Envelope } from './protocol.js';

/**
 * The latest envelope of every key, for clients that connect later. Holds at most `maxKeys` keys,
 * forgetting the least recently updated. A `resolved` alert removes its series' alert. The serialized
 * snapshot is cached until the next change, so a connection storm serializes it once.
 */
export class SnapshotStore {
  readonly #latest = new Map<string, Envelope>();
  readonly #maxKeys: number;
  #json: string | null = null;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  update(envelope: Envelope, key: string = envelopeKey(envelope)): void {
    this.#json = null;
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

  get size(): number {
    return this.#latest.size;
  }
}
