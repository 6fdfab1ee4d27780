import { envelopeValidator, toValidationIssues } from '../envelope-validator.js';
import { invalidOption } from '../errors.js';
import { createRateLimitedLog, type Logger } from '../logger.js';
import type { AlertMessage, Envelope } from '../protocol.js';
import { createSystemPublisher, type SystemPublisher } from '../publisher.js';
import { MAX_BATCH_SIZE } from '../schemas.js';
import { AlertTracker, type ResolvedThreshold } from './alerts.js';
import { collectContainers, collectMetrics } from './collect.js';
import { ContainerTracker } from './containers.js';
import { resolveSentinelOptions, type ResolvedSentinelOptions, type SentinelOptions } from './options.js';
import type { SystemSample } from './sample.js';

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

/**
 * Largest Redis message the sentinel sends, in bytes: under the stream's default `maxMessageBytes`
 * (64 KiB), which a host with many mounts or interfaces would otherwise exceed in one batch.
 */
const MAX_MESSAGE_BYTES = 60_000;
/** Alerts kept for the next tick when a publish fails (the latest per series). */
const MAX_PENDING_ALERTS = 1000;
const LOG_INTERVAL_MS = 10_000;

/**
 * Turns samples into batches: host metrics, alerts from the thresholds, container changes, and every
 * `containerReannounceMs` the containers and the alerts still active again. Keeps the state that spans
 * ticks (alert levels, known containers, whether Docker answered, when it last re-announced).
 */
export class BatchBuilder {
  readonly #source: string;
  readonly #alerts: AlertTracker;
  readonly #containers = new ContainerTracker();
  readonly #reannounceMs: number;
  readonly #logger: Logger;
  /** Alerts of a batch that could not be published, sent first with the next one. */
  readonly #pendingAlerts = new Map<string, AlertMessage>();
  #docker: 'unknown' | 'available' | 'absent' = 'unknown';
  #lastReannouncedAtMs = -Infinity;

  constructor(o: Pick<ResolvedSentinelOptions, 'source' | 'thresholds' | 'containerReannounceMs' | 'logger'>) {
    this.#source = o.source;
    this.#alerts = new AlertTracker(o.thresholds);
    this.#reannounceMs = o.containerReannounceMs;
    this.#logger = o.logger;
  }

  /** One batch for `sample`: alerts first (so that they travel ahead of the metrics), then metrics, then containers. */
  build(sample: SystemSample, nowMs: number): Envelope[] {
    const isReannounce = nowMs - this.#lastReannouncedAtMs >= this.#reannounceMs;
    if (isReannounce) this.#lastReannouncedAtMs = nowMs;
    const metrics = collectMetrics(sample, this.#source);
    const alerts = new Map(this.#pendingAlerts);
    this.#pendingAlerts.clear();
    for (const m of metrics) {
      const alert = this.#alerts.update(m.data);
      if (alert) alerts.set(seriesOf(alert), alert);
    }
    if (isReannounce) {
      // A stream that started since an alert was raised has not seen it: its snapshot shows it from now on.
      for (const alert of this.#alerts.active()) if (!alerts.has(seriesOf(alert))) alerts.set(seriesOf(alert), alert);
    }
    const docker = collectContainers(sample, this.#source);
    if (!docker.isDockerAvailable) {
      if (this.#docker !== 'absent') {
        // Once per outage: on a host without Docker that is once.
        this.#logger.warn({}, 'no Docker daemon reachable; publishing host metrics only');
      }
      this.#docker = 'absent';
      return [...alerts.values(), ...metrics];
    }
    const isBack = this.#docker === 'absent';
    if (isBack) this.#logger.info({}, 'Docker daemon reachable again; publishing container status');
    this.#docker = 'available';
    return [...alerts.values(), ...metrics, ...this.#containers.update(docker.containers, sample.time, isReannounce || isBack)];
  }

  /** Called when `batch` could not be published: its alerts go out with the next batch, and so does a re-announce. */
  failed(batch: readonly Envelope[]): void {
    for (const e of batch) {
      if (e.type !== 'alert') continue;
      const key = seriesOf(e);
      if (!this.#pendingAlerts.has(key) && this.#pendingAlerts.size >= MAX_PENDING_ALERTS) continue;
      this.#pendingAlerts.delete(key); // re-insert: the latest level of a series wins and keeps its order
      this.#pendingAlerts.set(key, e);
    }
    this.#lastReannouncedAtMs = -Infinity;
  }
}

/** The series an alert belongs to. */
function seriesOf(alert: AlertMessage): string {
  return `${alert.data.metric_type}:${alert.data.source}`;
}

/** Splits a batch into Redis messages of at most 1,000 envelopes and about {@link MAX_MESSAGE_BYTES} bytes each. */
export function chunkBatch(batch: readonly Envelope[], maxBytes = MAX_MESSAGE_BYTES): Envelope[][] {
  const chunks: Envelope[][] = [];
  let current: Envelope[] = [];
  let bytes = 2;
  for (const envelope of batch) {
    const size = Buffer.byteLength(JSON.stringify(envelope)) + 1;
    if (current.length > 0 && (current.length >= MAX_BATCH_SIZE || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 2;
    }
    current.push(envelope);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

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
    if (options.redis !== undefined || options.channel !== undefined) {
      throw invalidOption('Pass either `publisher` or `redis`/`channel`: the publisher already decides where batches go');
    }
    if (typeof options.publisher !== 'object' || options.publisher === null || typeof options.publisher.publish !== 'function') {
      throw invalidOption('Expected `publisher` to have a publish() method (a SystemPublisher)');
    }
  }
  const ownPublisher =
    options.publisher === undefined
      ? createSystemPublisher({ redis: options.redis, channel: options.channel, logger: o.logger })
      : undefined;
  const publisher = options.publisher ?? (ownPublisher as SystemPublisher);
  const { logger, intervalMs } = o;
  const builder = new BatchBuilder(o);
  const logSampleError = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'sampling failed', LOG_INTERVAL_MS);
  const logPublishError = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'publishing a batch failed', LOG_INTERVAL_MS);
  const logInvalid = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'dropped an envelope the schema refuses', LOG_INTERVAL_MS);
  const logOverrun = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'sentinel tick overran its interval; ticks skipped', LOG_INTERVAL_MS);

  let isStopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  let stopping: Promise<void> | undefined;

  const tick = async (): Promise<void> => {
    let sample: SystemSample;
    try {
      sample = await o.sampler();
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

  logger.info({ source: o.source, intervalMs, thresholds: describeThresholds(o.thresholds) }, 'sentinel started');
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
export async function sampleOnce(options: Omit<SentinelOptions, 'publisher' | 'redis' | 'channel'> = {}): Promise<Envelope[]> {
  const o = resolveSentinelOptions(options);
  await o.sampler();
  await new Promise((resolve) => setTimeout(resolve, o.intervalMs));
  const batch = new BatchBuilder(o).build(await o.sampler(), performance.now());
  return keepValid(batch, (obj) => o.logger.warn(obj, 'dropped an envelope the schema refuses'));
}

/**
 * Drops what the schema refuses (a mount point longer than the schema allows, a sampler returning odd
 * data) one envelope at a time, so that one bad value cannot block the rest of the batch tick after tick.
 */
function keepValid(batch: readonly Envelope[], onInvalid: (obj: object) => void): Envelope[] {
  const check = envelopeValidator();
  return batch.filter((e) => {
    const { type } = e;
    if (check(e)) return true;
    onInvalid({ type, issues: toValidationIssues(check.errors).slice(0, 3) });
    return false;
  });
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
