import { merge, type Observable, type Subscription } from 'rxjs';
import type { Envelope } from '../protocol/wire.js';
import type { Delivery } from './fanout/delivery.js';
import { createPipeline, type PipelineHooks } from './pipeline.js';
import type { StalenessTracker } from './state/source-staleness.js';

export interface IngestParts {
  /** The channels' live messages. */
  readonly live$: Observable<Buffer | string>;
  /** Messages read back from the Redis-backed history after a reconnect. */
  readonly recovered$: Observable<Buffer | string>;
  readonly options: Parameters<typeof createPipeline>[1];
  readonly hooks: PipelineHooks;
  /** Every valid envelope (what `hooks.onValid` passes on), for the staleness tracker. */
  readonly messages$: Observable<Envelope>;
  readonly staleness: StalenessTracker;
  /** Each batch that passed the pipeline, once: into the history, then out to every client. */
  fanOut(batch: readonly Delivery[]): void;
  /** The pipeline failed (a bug): the stream reports it as a Redis failure. */
  onError(err: unknown): void;
}

/**
 * The shared path, run once per message whatever the number of clients: live messages and those read back
 * from the Redis stream go through the pipeline (parse, validate, throttle, serialize, batch) to `fanOut`.
 * Read-back messages were published long enough ago that their throttle windows are over, and count for
 * staleness as seen at their own time, not now.
 */
export function startIngest(parts: IngestParts): Subscription {
  const { hooks, options } = parts;
  let isReplaying = false;
  const watched = parts.messages$.subscribe((envelope) => parts.staleness.observe(envelope, isReplaying));
  const replayHooks: PipelineHooks = {
    ...hooks,
    onValid(envelope, key) {
      isReplaying = true;
      try {
        hooks.onValid(envelope, key);
      } finally {
        isReplaying = false;
      }
    },
  };
  const pipeline = merge(
    createPipeline(parts.live$, options, hooks),
    createPipeline(parts.recovered$, { ...options, throttleMs: 0 }, replayHooks),
  ).subscribe({ next: (batch) => parts.fanOut(batch), error: parts.onError });
  pipeline.add(watched);
  return pipeline;
}
