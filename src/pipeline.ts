import type { ErrorObject } from 'ajv';
import { map, type Observable, tap } from 'rxjs';
import { envelopeDelivery, type Delivery } from './delivery.js';
import { envelopeValidator } from './envelope-validator.js';
import { batchPerTick } from './operators/batch-per-tick.js';
import { parseJson, type ParseFailure } from './operators/parse-json.js';
import { splitBatch } from './operators/split-batch.js';
import { throttleByKey } from './operators/throttle-by-key.js';
import { validateMessage } from './operators/validate-message.js';
import { envelopeKey, type Envelope } from './protocol.js';
import { MAX_BATCH_SIZE } from './schemas.js';

/** Why a Redis message (or batch member) was dropped: each value the `reason` label of the invalid-messages metric takes. */
export const INVALID_REASONS = ['too_large', 'not_json', 'bad_batch', 'schema'] as const satisfies readonly (ParseFailure | 'bad_batch' | 'schema')[];
export type InvalidReason = (typeof INVALID_REASONS)[number];

export interface PipelineHooks {
  onInvalid(reason: InvalidReason, detail: { byteLength?: number; errors?: readonly ErrorObject[] }): void;
  /** Each valid envelope, before throttling: feeds the snapshot and `messages$`. */
  onValid(envelope: Envelope, key: string): void;
  onThrottled(): void;
}

interface Keyed {
  readonly envelope: Envelope;
  readonly key: string;
}

/** Containers whose last status is remembered for {@link createThrottleKey}; the oldest is forgotten past it. */
const MAX_TRACKED_CONTAINERS = 10_000;

/**
 * What may replace what within a throttle window. Alerts are never throttled. A container's
 * re-announcements of an unchanged status are throttled, but every change opens a new key, so
 * running → exited → running within one window arrives whole and in order.
 */
function createThrottleKey(): (value: Keyed) => string | null {
  const containers = new Map<string, { status: string; version: number }>();
  return ({ envelope, key }) => {
    if (envelope.type === 'alert') return null;
    if (envelope.type !== 'container_status') return key;
    let last = containers.get(key);
    if (last === undefined) {
      last = { status: envelope.data.status, version: 0 };
      containers.set(key, last);
      if (containers.size > MAX_TRACKED_CONTAINERS) containers.delete(containers.keys().next().value as string);
    } else if (last.status !== envelope.data.status) {
      last.status = envelope.data.status;
      last.version++;
    }
    return `${key}#${last.version}`;
  };
}

/**
 * The shared part of the stream, run once per message whatever the number of clients:
 * parse → split batches → validate → (snapshot, messages$) → throttle per key → serialize once →
 * group what arrived in one tick into one batch.
 */
export function createPipeline(
  raw$: Observable<Buffer | string>,
  options: { readonly maxMessageBytes: number; readonly throttleMs: number },
  hooks: PipelineHooks,
): Observable<Delivery[]> {
  return raw$.pipe(
    parseJson(options.maxMessageBytes, (reason, byteLength) => hooks.onInvalid(reason, { byteLength })),
    splitBatch(MAX_BATCH_SIZE, () => hooks.onInvalid('bad_batch', {})),
    validateMessage(envelopeValidator(), (errors) => hooks.onInvalid('schema', { errors })),
    map((envelope): Keyed => ({ envelope, key: envelopeKey(envelope) })),
    tap(({ envelope, key }) => hooks.onValid(envelope, key)),
    throttleByKey(createThrottleKey(), options.throttleMs, hooks.onThrottled),
    map(({ envelope, key }) => envelopeDelivery(envelope, key)),
    batchPerTick(),
  );
}
