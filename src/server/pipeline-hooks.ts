import type { ErrorObject } from 'ajv';
import type { Subject } from 'rxjs';
import { createRateLimitedLog, type Logger } from '../shared/logger.js';
import type { InvalidReason, PipelineHooks } from './pipeline.js';
import { MAX_BATCH_SIZE } from '../protocol/schemas.js';
import type { Envelope } from '../protocol/wire.js';
import type { SnapshotStore } from './state/snapshot.js';
import type { LabelledCounters, StreamCounters } from './stats.js';

const LOG_INTERVAL_MS = 10_000;
/** Failing fields named in one log line: the first few say what to fix. */
const MAX_FIELDS = 3;

/** What was wrong with a dropped message, by reason; `fields` says more for `schema`. */
const PROBLEM: Readonly<Record<InvalidReason, string>> = {
  too_large: 'larger than maxMessageBytes',
  not_json: 'not JSON text',
  bad_batch: `an empty array, or a batch of more than ${MAX_BATCH_SIZE} envelopes`,
  schema: 'does not match the message schema',
};

/**
 * One failing field as a producer reads it: the JSON path and what is wrong, with the field's own name where
 * ajv puts it in `params` (an unknown or a missing property is reported on its parent object).
 */
function describeField(e: ErrorObject): string {
  const params = e.params as { additionalProperty?: unknown; missingProperty?: unknown };
  if (typeof params.additionalProperty === 'string') return `${e.instancePath}/${params.additionalProperty} is not an allowed field`;
  if (typeof params.missingProperty === 'string') return `${e.instancePath}/${params.missingProperty} is required`;
  if (e.keyword === 'discriminator') return '/type must be system_metric, container_status or alert';
  return `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`;
}

export interface PipelineHookContext {
  readonly counters: StreamCounters;
  readonly labelled: LabelledCounters;
  readonly snapshot: SnapshotStore;
  /** `stream.messages$`: every valid envelope, before throttling. */
  readonly messages: Subject<Envelope>;
  readonly logger: Logger;
  readonly channel: string;
}

/**
 * What the stream does beside the shared pipeline: counts, feeds the snapshot and `messages$` with every
 * valid envelope, and logs invalid input at `warn` at a bounded rate (the first at once, then one line per
 * 10 s with the number suppressed), so that a producer's first mistake is never silent. Each line names the
 * failing fields, never the payload. No per-message line, not even at `debug`: a host that passes `console`
 * prints every level, and a producer publishing garbage at 1 kHz must not flood it.
 */
export function createPipelineHooks({ counters, labelled, snapshot, messages, logger, channel }: PipelineHookContext): PipelineHooks {
  const logInvalid = createRateLimitedLog(
    (obj, msg) => logger.warn(obj, msg),
    'dropped invalid message from a producer (see docs/producers.md)',
    LOG_INTERVAL_MS,
  );
  return {
    onInvalid(reason, detail) {
      counters.invalid++;
      labelled.invalid[reason]++;
      const fields = detail.errors?.slice(0, MAX_FIELDS).map(describeField);
      const entry = { event: 'invalid_messages', channel, reason, problem: PROBLEM[reason], byteLength: detail.byteLength, fields };
      logInvalid(entry);
    },
    onValid(envelope, key) {
      counters.valid++;
      labelled.envelopes[envelope.type]++;
      snapshot.update(envelope, key);
      messages.next(envelope);
    },
    onThrottled() {
      counters.throttled++;
    },
  };
}
