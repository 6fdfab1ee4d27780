// Wire format shared by the server, the publisher and the browser client. Browser-safe: no Node imports.
// Its length is TSDoc: every field of every packet is documented for users of the types.

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
export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | 'stopped';

/**
 * The state of one container.
 * @public
 */
export interface ContainerStatus {
  /** Container name, e.g. `tick-archiver`. */
  readonly container: string;
  /** Its state. */
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
  /** `warning` or `critical` at the crossing, `resolved` when the value fell back. */
  readonly level: AlertLevel;
  /** The metric that crossed, as in {@link SystemMetric.metric_type}. */
  readonly metric_type: string;
  /** Where, as in {@link SystemMetric.source}. */
  readonly source: string;
  /** The value that crossed (or fell back below) the threshold. */
  readonly value: number;
  /** The threshold that was crossed. */
  readonly threshold: number;
  /** Human-readable summary, e.g. `cpu on host at 93.1 % (threshold 90 %)`. */
  readonly message: string;
  /** ISO-8601 with a timezone. */
  readonly time: string;
}

/**
 * The spec's `system_metric` envelope.
 * @public
 */
export interface SystemMetricMessage {
  /** Discriminator. */
  readonly type: 'system_metric';
  /** The sample. */
  readonly data: SystemMetric;
}

/**
 * The spec's `container_status` envelope.
 * @public
 */
export interface ContainerStatusMessage {
  /** Discriminator. */
  readonly type: 'container_status';
  /** The container's state. */
  readonly data: ContainerStatus;
}

/**
 * A threshold alert envelope.
 * @public
 */
export interface AlertMessage {
  /** Discriminator. */
  readonly type: 'alert';
  /** The crossing or its resolution. */
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

/** Whether `value` names an envelope type. @internal */
export function isEnvelopeType(value: string): value is EnvelopeType {
  return (ENVELOPE_TYPES as readonly string[]).includes(value);
}

/**
 * Body of `GET …/snapshot`: the latest known envelope of every key. On the WebSocket the same
 * envelopes arrive one per frame, followed by a {@link SnapshotEndPacket}.
 * @public
 */
export interface SnapshotPacket {
  /** Discriminator. */
  readonly type: 'snapshot';
  /** The latest envelope of every key (resolved alerts removed), in order of last update. */
  readonly data: readonly Envelope[];
}

/**
 * Sent once on every connection, right after the snapshot's envelopes (and, for a handshake with
 * `?since=`, the history backfilled with them): everything before it was known before the connection,
 * everything after it is live.
 * @public
 */
export interface SnapshotEndPacket {
  /** Discriminator. */
  readonly type: 'snapshot_end';
  /** How many envelopes came before it, and what a `since` backfill covered. */
  readonly data: {
    /** The number of envelope frames sent before this packet on this connection (`source_status` packets are not counted). */
    readonly count: number;
    /** Only after a handshake with `?since=`: that time as the server read it, ISO-8601 UTC. */
    readonly since?: string;
    /**
     * Only after a handshake with `?since=`: `true` when the server held every value it delivered with
     * `time` at or after `since`, so the backfill has no gap; `false` when some may be missing (`since`
     * is older than its history, the server started later, or it lost messages while Redis was away).
     */
    readonly complete?: boolean;
  };
}

/**
 * Sent when the server cannot deliver live data, e.g. Redis is down (`code` 503).
 * @public
 */
export interface ErrorPacket {
  /** Discriminator. */
  readonly type: 'error';
  /** What went wrong. */
  readonly data: {
    /** An HTTP-like status: 503 while Redis is unavailable. */
    readonly code: number;
    /** Its text, e.g. `Service Unavailable`. */
    readonly message: string;
    /** Machine-readable reason, e.g. `redis_unavailable`. */
    readonly reason: string;
    /** When the server noticed, ISO-8601. */
    readonly time: string;
  };
}

/**
 * Sent when live data flows again after an {@link ErrorPacket}.
 * @public
 */
export interface StatusPacket {
  /** Discriminator. */
  readonly type: 'status';
  /** `{ code: 200, message: 'OK', time }` when live data flows again. */
  readonly data: {
    /** 200. */
    readonly code: number;
    /** `OK`. */
    readonly message: string;
    /** When the server recovered, ISO-8601. */
    readonly time: string;
  };
}

/**
 * Sent to every client once per `heartbeatIntervalMs` (with the WebSocket ping, which browsers cannot
 * see), so that a client can tell a quiet stream from a dead connection.
 * @public
 */
export interface HeartbeatPacket {
  /** Discriminator. */
  readonly type: 'heartbeat';
}

/**
 * Whether a producer's `source` still publishes `system_metric` envelopes, as the server sees it.
 * @public
 */
export interface SourceStatus {
  /** The `source` exactly as its metrics carry it, e.g. `web-1`, `web-1:/var` or `host`. */
  readonly source: string;
  /**
   * `stale`: nothing from it for `staleAfterIntervals` times its usual publishing interval (at least
   * `staleFloorMs`); `live`: it publishes again.
   */
  readonly status: 'stale' | 'live';
  /** When the server last received a metric from it (the server's clock), ISO-8601. */
  readonly last_seen: string;
}

/**
 * Sent when a source goes silent (`stale`) and when it publishes again (`live`), to every client that may
 * see that source's metrics: a client narrowed by `?source=` or by its grant hears only of its sources,
 * and a client that does not receive `system_metric` receives none. A new connection receives one `stale`
 * packet per such source that is stale at that moment, after the snapshot's envelopes and before
 * `snapshot_end`; sources not named there are live.
 * @public
 */
export interface SourceStatusPacket {
  /** Discriminator. */
  readonly type: 'source_status';
  /** The source and its state. */
  readonly data: SourceStatus;
}

/**
 * Every packet the server sends on the WebSocket. Each text frame holds exactly one packet, a JSON object.
 * @public
 */
export type ServerPacket = Envelope | SnapshotEndPacket | ErrorPacket | StatusPacket | HeartbeatPacket | SourceStatusPacket;

/**
 * The WebSocket subprotocol of this wire format. A client may offer it (the server then selects it) or
 * offer no subprotocol at all; a handshake offering only other subprotocols is refused with HTTP 400.
 * @public
 */
export const PROTOCOL_V1 = 'system-stream.v1';

/**
 * Prefix of the subprotocol that carries an API key, for browsers, which cannot set headers on a
 * WebSocket: `system-stream.key.` followed by the key's UTF-8 bytes in base64url without padding.
 * Offered beside {@link PROTOCOL_V1}, never selected by the server, and never logged.
 * @public
 */
export const KEY_PROTOCOL_PREFIX = 'system-stream.key.';

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
 * The subprotocol that carries `apiKey` (see {@link KEY_PROTOCOL_PREFIX}); offer it together with
 * {@link PROTOCOL_V1}: `new WebSocket(url, [PROTOCOL_V1, keyProtocol(apiKey)])`.
 * @public
 */
export function keyProtocol(apiKey: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(apiKey)) binary += String.fromCharCode(byte);
  return KEY_PROTOCOL_PREFIX + btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
