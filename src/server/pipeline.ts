import type { ErrorObject } from 'ajv';
import { filter, map, type Observable, tap } from 'rxjs';
import { envelopeDelivery, type Delivery } from './fanout/delivery.js';
import { envelopeValidator } from '../shared/envelope-validator.js';
import { batchPerTick } from './operators/batch-per-tick.js';
import { parseJson, type ParseFailure } from './operators/parse-json.js';
import { splitBatch } from './operators/split-batch.js';
import { throttleByKey } from './operators/throttle-by-key.js';
import { validateMessage } from './operators/validate-message.js';
import { envelopeKey, type Envelope } from '../protocol/wire.js';
import { MAX_BATCH_SIZE } from '../protocol/schemas.js';

/** Why a Redis message (or batch member) was dropped: each value the `reason` label of the invalid-messages metric takes. */
export const INVALID_REASONS = ['too_large', 'not_json', 'bad_batch', 'schema'] as const satisfies readonly (
  ParseFailure | 'bad_batch' | 'schema'
)[];
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

interface Throttled extends Keyed {
  /** What may replace what within a throttle window; `null`: never throttled. */
  readonly throttleKey: string | null;
  /** Emitted at once, replacing what is pending for its key: a container's status change. */
  readonly isChange: boolean;
}

const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;
/** Containers whose last status is remembered for {@link createThrottleRule}; the oldest is forgotten past it. */
const MAX_TRACKED_CONTAINERS = 10_000;

/**
 * What may replace what within a throttle window. Alerts are never throttled. A container's
 * re-announcements of an unchanged status are throttled, but a change of status goes out at once and
 * replaces the re-announcement pending for that container, so running, running, exited within one
 * window reaches clients as a sequence ending in exited.
 */
function createThrottleRule(): (value: Keyed) => Throttled {
  const lastStatus = new Map<string, string>();
  return ({ envelope, key }) => {
    if (envelope.type === 'alert') return { envelope, key, throttleKey: null, isChange: false };
    if (envelope.type !== 'container_status') return { envelope, key, throttleKey: key, isChange: false };
    const previous = lastStatus.get(key);
    lastStatus.delete(key); // re-insert at the end: Map order is recency order
    lastStatus.set(key, envelope.data.status);
    if (lastStatus.size > MAX_TRACKED_CONTAINERS) lastStatus.delete(lastStatus.keys().next().value as string);
    return { envelope, key, throttleKey: key, isChange: previous !== undefined && previous !== envelope.data.status };
  };
}

/**
 * Passes envelopes whose `time` is at most `maxClockSkewMs` ahead of `now()`; the others are reported to
 * `onFuture` with an error that names the field. A time `Date.parse` cannot read passes (the schema
 * accepted it). Dropped at the door because a value from the future would outrank every later, correct
 * value of its key wherever values are ordered by time (a client resuming with `since`, the history).
 */
function refuseFutureTimes(
  maxClockSkewMs: number,
  now: () => number,
  onFuture: (errors: readonly ErrorObject[]) => void,
): (envelope: Envelope) => boolean {
  return (envelope) => {
    const timeMs = Date.parse(envelope.data.time);
    if (!(timeMs > now() + maxClockSkewMs)) return true;
    onFuture([
      {
        instancePath: '/data/time',
        schemaPath: '#/maxClockSkewMs',
        keyword: 'maxClockSkewMs',
        params: { maxClockSkewMs },
        message: `must be at most ${maxClockSkewMs} ms ahead of the server's clock`,
      },
    ]);
    return false;
  };
}

/**
 * The shared part of the stream, run once per message whatever the number of clients:
 * parse → split batches → validate → refuse times too far ahead → (snapshot, messages$) → throttle per key →
 * serialize once → group what arrived in one tick into one batch. A time too far ahead counts as `schema`.
 */
export function createPipeline(
  raw$: Observable<Buffer | string>,
  options: {
    readonly maxMessageBytes: number;
    /** Default: 300000 (5 minutes). */
    readonly maxClockSkewMs?: number;
    readonly throttleMs: number;
    readonly writeDelayMs: number;
    readonly now?: () => number;
  },
  hooks: PipelineHooks,
): Observable<Delivery[]> {
  const onSchema = (errors: readonly ErrorObject[]): void => hooks.onInvalid('schema', { errors });
  return raw$.pipe(
    parseJson(options.maxMessageBytes, (reason, byteLength) => hooks.onInvalid(reason, { byteLength })),
    splitBatch(MAX_BATCH_SIZE, () => hooks.onInvalid('bad_batch', {})),
    // One step (a pipe takes at most nine operators with their types).
    (parsed$) =>
      parsed$.pipe(
        validateMessage(envelopeValidator(), onSchema),
        filter(refuseFutureTimes(options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS, options.now ?? Date.now, onSchema)),
      ),
    map((envelope): Keyed => ({ envelope, key: envelopeKey(envelope) })),
    tap(({ envelope, key }) => hooks.onValid(envelope, key)),
    map(createThrottleRule()),
    throttleByKey(
      (v: Throttled) => v.throttleKey,
      options.throttleMs,
      hooks.onThrottled,
      (v) => v.isChange,
    ),
    map(({ envelope, key }) => envelopeDelivery(envelope, key)),
    batchPerTick(options.writeDelayMs),
  );
}
