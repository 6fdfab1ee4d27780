// Batch building for the sentinel: what one sample becomes (host metrics, alerts, container changes and
// the periodic re-announcements, with the state that spans ticks), which envelopes of it the schema
// accepts, and how it is cut into Redis messages.
import { envelopeValidator, toValidationIssues } from '../shared/envelope-validator.js';
import type { Logger } from '../shared/logger.js';
import type { AlertMessage, Envelope } from '../protocol/wire.js';
import { MAX_BATCH_SIZE } from '../protocol/schemas.js';
import { AlertTracker } from './alerts.js';
import { collectContainers, collectMetrics } from './collect.js';
import { ContainerTracker } from './containers.js';
import type { ResolvedSentinelOptions } from './sentinel-options.js';
import type { SystemSample } from './sample.js';

/**
 * Largest Redis message the sentinel sends, in bytes: under the stream's default `maxMessageBytes`
 * (64 KiB), which a host with many mounts or interfaces would otherwise exceed in one batch.
 */
const MAX_MESSAGE_BYTES = 60_000;
/** Alerts kept for the next tick when a publish fails (the latest per series). */
const MAX_PENDING_ALERTS = 1000;

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
 * Drops what the schema refuses (a mount point longer than the schema allows, a sampler returning odd
 * data) one envelope at a time, so that one bad value cannot block the rest of the batch tick after tick.
 */
export function keepValid(batch: readonly Envelope[], onInvalid: (obj: object) => void): Envelope[] {
  const check = envelopeValidator();
  return batch.filter((e) => {
    const { type } = e;
    if (check(e)) return true;
    onInvalid({ type, issues: toValidationIssues(check.errors).slice(0, 3) });
    return false;
  });
}
