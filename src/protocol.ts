// Wire format shared by the server, the publisher and the browser client. Browser-safe: no Node imports.

/**
 * Free-form annotations of a metric, such as its unit. Values are scalars so that a dashboard can
 * show them as they are.
 * @public
 */
export type MetricMeta = Readonly<Record<string, string | number | boolean | null>>;

/**
 * One sample of one host or container metric.
 * @public
 */
export interface SystemMetric {
  /** When the sample was taken, ISO-8601 with a timezone, e.g. `2026-01-17T04:30:00Z`. */
  readonly time: string;
  /** What is measured, e.g. `cpu`, `memory`, `disk`. Letters, digits, `_`, `.` and `-`. */
  readonly metric_type: string;
  /** The measured value, a finite number (percent for `cpu`, `memory`, `disk`). */
  readonly value: number;
  /** Where it was measured: `host`, a mount point, an interface, a container name. */
  readonly source: string;
  /** Optional annotations, e.g. `{ "unit": "percent" }`. */
  readonly meta?: MetricMeta;
}

/**
 * The states a container can report. Docker's states plus the spec's `stopped`.
 * @public
 */
export type ContainerState =
  | 'created'
  | 'running'
  | 'paused'
  | 'restarting'
  | 'removing'
  | 'exited'
  | 'dead'
  | 'stopped';

/**
 * The state of one container.
 * @public
 */
export interface ContainerStatus {
  /** Container name, e.g. `tick-archiver`. */
  readonly container: string;
  readonly status: ContainerState;
  /** ISO-8601 with a timezone. */
  readonly time: string;
}

/**
 * Severity of an {@link Alert}. `resolved` announces that the value fell back below the line.
 * @public
 */
export type AlertLevel = 'warning' | 'critical' | 'resolved';

/**
 * A threshold crossing, or its resolution.
 * @public
 */
export interface Alert {
  readonly level: AlertLevel;
  readonly metric_type: string;
  readonly source: string;
  /** The value that crossed (or fell back below) the threshold. */
  readonly value: number;
  readonly threshold: number;
  /** Human-readable summary, e.g. `cpu on host at 93.1 % (threshold 90 %)`. */
  readonly message: string;
  /** ISO-8601 with a timezone. */
  readonly time: string;
}

/** @public */
export interface SystemMetricMessage {
  readonly type: 'system_metric';
  readonly data: SystemMetric;
}

/** @public */
export interface ContainerStatusMessage {
  readonly type: 'container_status';
  readonly data: ContainerStatus;
}

/** @public */
export interface AlertMessage {
  readonly type: 'alert';
  readonly data: Alert;
}

/**
 * What producers publish to Redis and what clients receive: the spec's envelopes.
 * A Redis message carries one envelope or an array of them (a batch).
 * @public
 */
export type Envelope = SystemMetricMessage | ContainerStatusMessage | AlertMessage;

/**
 * The `type` of an {@link Envelope}.
 * @public
 */
export type EnvelopeType = Envelope['type'];

/**
 * The envelope types, in a stable order.
 * @public
 */
export const ENVELOPE_TYPES: readonly EnvelopeType[] = ['system_metric', 'container_status', 'alert'];

/**
 * First packet on every connection: the latest known envelope of every key.
 * @public
 */
export interface SnapshotPacket {
  readonly type: 'snapshot';
  readonly data: readonly Envelope[];
}

/**
 * Sent when the server cannot deliver live data, e.g. Redis is down (`code` 503).
 * @public
 */
export interface ErrorPacket {
  readonly type: 'error';
  readonly data: {
    readonly code: number;
    readonly message: string;
    /** Machine-readable reason, e.g. `redis_unavailable`. */
    readonly reason: string;
    readonly time: string;
  };
}

/**
 * Sent when live data flows again after an {@link ErrorPacket}.
 * @public
 */
export interface StatusPacket {
  readonly type: 'status';
  readonly data: { readonly code: number; readonly message: string; readonly time: string };
}

/**
 * Every packet the server sends. A text frame holds one packet or a JSON array of packets,
 * which the server uses to deliver several packets in one write.
 * @public
 */
export type ServerPacket = Envelope | SnapshotPacket | ErrorPacket | StatusPacket;

/**
 * The key under which the latest value of an envelope is kept: a metric series
 * (`metric_type` and `source`), a container, or an alert's series. `metric_type` cannot contain
 * `:`, so the key is unambiguous.
 * @public
 */
export function envelopeKey(envelope: Envelope): string {
  switch (envelope.type) {
    case 'system_metric':
      return `system_metric:${envelope.data.metric_type}:${envelope.data.source}`;
    case 'container_status':
      return `container_status:${envelope.data.container}`;
    case 'alert':
      return `alert:${envelope.data.metric_type}:${envelope.data.source}`;
  }
}

/**
 * Parses one WebSocket text frame into its packets. Throws `SyntaxError` on invalid JSON;
 * does not validate the packets' shapes (the server already did).
 * @public
 */
export function parseFrame(text: string): ServerPacket[] {
  const value: unknown = JSON.parse(text);
  return (Array.isArray(value) ? value : [value]) as ServerPacket[];
}
