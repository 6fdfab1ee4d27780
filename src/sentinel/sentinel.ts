// startSentinel: the sampling loop on its fixed grid (one tick at a time, overruns skipped, not queued),
// publishing each tick's batch, and its stop(); sampleOnce for the CLI's one-shot mode. Options are
// options.ts; what a sample becomes is batch-builder.ts.
import { invalidOption } from '../shared/errors.js';
import { createRateLimitedLog } from '../shared/logger.js';
import type { Envelope } from '../protocol/wire.js';
import { createSystemPublisher, type SystemPublisher } from '../publisher/publisher.js';
import type { ResolvedThreshold } from './alerts.js';
import { BatchBuilder, chunkBatch, keepValid } from './batch-builder.js';
import { createHostSampler } from './host-sampler.js';
import { resolveSentinelOptions, type ResolvedSentinelOptions, type SentinelOptions } from './sentinel-options.js';
import type { Sampler, SystemSample } from './sample.js';

/**
 * A running sentinel, returned by {@link startSentinel}.
 * @public
 */
export interface Sentinel {
  /**
   * Stops sampling, waits for a tick in progress to finish, and closes the publisher if the sentinel
   * created it (which ends at once a publish still waiting for Redis). Idempotent: later calls return
   * the same promise.
   */
  stop(): Promise<void>;
}

const LOG_INTERVAL_MS = 10_000;

/**
 * Starts sampling the host every `intervalMs` (the first sample at once) and publishes one batch per
 * tick: CPU, memory, load, every mounted filesystem, network rates per interface, container changes,
 * and alerts when a metric crosses its threshold. Throws {@link SystemStreamError}
 * `SST_ERR_INVALID_OPTION` for bad options. A failed sample or publish is logged and the next tick
 * tries again; the sentinel never stops by itself.
 * @public
 */
export function startSentinel(options: SentinelOptions = {}): Sentinel {
  const o = resolveSentinelOptions(options);
  if (options.publisher !== undefined) {
    if (
      options.redis !== undefined ||
      options.channel !== undefined ||
      options.sharded !== undefined ||
      options.historyStream !== undefined
    ) {
      throw invalidOption(
        'Pass either `publisher` or `redis`/`channel`/`sharded`/`historyStream`: the publisher already decides where batches go',
      );
    }
    if (typeof options.publisher !== 'object' || options.publisher === null || typeof options.publisher.publish !== 'function') {
      throw invalidOption('Expected `publisher` to have a publish() method (a SystemPublisher)');
    }
  }
  const ownPublisher =
    options.publisher === undefined
      ? createSystemPublisher({
          redis: options.redis,
          channel: options.channel,
          sharded: options.sharded,
          historyStream: options.historyStream,
          logger: o.logger,
        })
      : undefined;
  const publisher = options.publisher ?? (ownPublisher as SystemPublisher);
  const { logger, intervalMs } = o;
  const { sampler, close: closeSampler } = samplerOf(o);
  const builder = new BatchBuilder(o);
  const logSampleError = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'sampling failed', LOG_INTERVAL_MS);
  const logPublishError = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'publishing a batch failed', LOG_INTERVAL_MS);
  const logInvalid = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'dropped an envelope the schema refuses', LOG_INTERVAL_MS);
  const logOverrun = createRateLimitedLog(
    (obj, msg) => logger.warn(obj, msg),
    'sentinel tick overran its interval; ticks skipped',
    LOG_INTERVAL_MS,
  );

  let isStopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  let stopping: Promise<void> | undefined;

  const tick = async (): Promise<void> => {
    let sample: SystemSample;
    try {
      sample = await sampler();
    } catch (err) {
      logSampleError({ err: errorInfo(err) });
      return;
    }
    if (isStopped) return;
    const batch = keepValid(builder.build(sample, performance.now()), logInvalid);
    for (const chunk of chunkBatch(batch)) {
      try {
        await publisher.publish(chunk);
      } catch (err) {
        if (isStopped) return; // the publisher was closed by stop()
        builder.failed(chunk);
        logPublishError({ err: errorInfo(err), envelopes: chunk.length });
      }
    }
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  // Scheduling reads the monotonic clock: a wall-clock step (NTP, a suspended VM) must not stall the grid.
  const loop = async (): Promise<void> => {
    const startedAt = performance.now();
    let slot = 0;
    while (!isStopped) {
      const tickStartedAt = performance.now();
      await tick();
      const now = performance.now();
      logger.debug({ durationMs: Math.round(now - tickStartedAt) }, 'sentinel tick');
      // The next slot on the fixed grid that is still ahead: a tick that overran skips slots instead of
      // queueing them, so ticks never overlap and never come in a burst.
      const next = Math.max(slot + 1, Math.floor((now - startedAt) / intervalMs) + 1);
      if (next > slot + 1) logOverrun({ durationMs: Math.round(now - tickStartedAt), intervalMs, skipped: next - slot - 1 });
      slot = next;
      if (isStopped) break;
      await sleep(startedAt + slot * intervalMs - performance.now());
    }
  };

  logger.info(
    {
      source: o.source,
      intervalMs,
      thresholds: describeThresholds(o.thresholds),
      ...(o.sampler === undefined && process.platform === 'linux' ? { sampler: 'procfs', dockerSocket: o.dockerSocket } : {}),
    },
    'sentinel started',
  );
  const running = loop().catch((err: unknown) => logger.error({ err: errorInfo(err) }, 'sentinel loop failed'));

  return {
    stop() {
      if (stopping) return stopping;
      isStopped = true;
      clearTimeout(timer);
      wake?.();
      stopping = (async () => {
        // Closing our own publisher at once ends a publish that is waiting for a Redis that is down,
        // instead of waiting out its timeout; what Redis has already received still gets its reply.
        await Promise.all([running, ownPublisher?.close()]);
        closeSampler();
        logger.info({}, 'sentinel stopped');
      })();
      return stopping;
    },
  };
}

/**
 * Samples twice, `intervalMs` apart (network rates need two samples and the first CPU reading is a
 * priming one), and returns the batch the second sample makes: what a running sentinel publishes.
 */
export async function sampleOnce(
  options: Omit<SentinelOptions, 'publisher' | 'redis' | 'channel' | 'sharded' | 'historyStream'> = {},
): Promise<Envelope[]> {
  const o = resolveSentinelOptions(options);
  const { sampler, close } = samplerOf(o);
  try {
    await sampler();
    await new Promise((resolve) => setTimeout(resolve, o.intervalMs));
    const batch = new BatchBuilder(o).build(await sampler(), performance.now());
    return keepValid(batch, (obj) => o.logger.warn(obj, 'dropped an envelope the schema refuses'));
  } finally {
    close();
  }
}

/** The sampler given, or a default one of this sentinel's own (it keeps counters and the Docker event stream). */
function samplerOf(o: ResolvedSentinelOptions): { sampler: Sampler; close: () => void } {
  if (o.sampler !== undefined) return { sampler: o.sampler, close: () => {} };
  const host = createHostSampler({ dockerSocket: o.dockerSocket, dockerResyncMs: o.containerReannounceMs, logger: o.logger });
  return { sampler: host.sample, close: () => host.close() };
}

/** `{ cpu: 'warning 90, critical 95, hysteresis 5' }`: readable in a log line, and without `Infinity` (JSON has none). */
function describeThresholds(thresholds: ReadonlyMap<string, ResolvedThreshold>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, t] of thresholds) {
    out[name] = `warning ${t.warning}${Number.isFinite(t.critical) ? `, critical ${t.critical}` : ''}, hysteresis ${t.hysteresis}`;
  }
  return out;
}

function errorInfo(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
  }
  return { message: String(err) };
}
