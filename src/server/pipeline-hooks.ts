import type { Subject } from 'rxjs';
import { createRateLimitedLog, type Logger } from '../shared/logger.js';
import type { PipelineHooks } from './pipeline.js';
import type { Envelope } from '../protocol/wire.js';
import type { SnapshotStore } from './state/snapshot.js';
import type { LabelledCounters, StreamCounters } from './stats.js';

const LOG_INTERVAL_MS = 10_000;

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
 * valid envelope, and logs invalid input at a bounded rate (the first at once, then one summary per 10 s)
 * with the failing fields, never the payload.
 */
export function createPipelineHooks({ counters, labelled, snapshot, messages, logger, channel }: PipelineHookContext): PipelineHooks {
  const logInvalid = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'dropped invalid message', LOG_INTERVAL_MS);
  return {
    onInvalid(reason, detail) {
      counters.invalid++;
      labelled.invalid[reason]++;
      const fields = detail.errors?.slice(0, 3).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`.trim());
      logInvalid({ event: 'invalid_messages', channel, reason, byteLength: detail.byteLength, fields });
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
