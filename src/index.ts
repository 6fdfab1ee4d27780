// Node entry point of system-stream: the public API, nothing else. The sentinel has its own entry
// (`system-stream/sentinel`, src/sentinel.ts), so that importing this one never loads systeminformation.
export { attachSystemStream } from './server/attach.js';
export type { SystemStream } from './server/stream.js';
export { CloseCode, isTerminalCloseCode } from './protocol/close-codes.js';
export { SystemStreamError, SystemStreamValidationError, type SystemStreamErrorCode, type ValidationIssue } from './shared/errors.js';
export { noopLogger, type Logger } from './shared/logger.js';
export type { MetricsRegistry } from './server/http/metrics.js';
export type { Authenticate, AuthGrant, JwtOptions, SystemStreamOptions } from './server/options.js';
export type { CompressionOptions } from './server/fanout/compression-options.js';
export {
  ENVELOPE_TYPES,
  envelopeKey,
  keyProtocol,
  KEY_PROTOCOL_PREFIX,
  PROTOCOL_V1,
  type Alert,
  type AlertLevel,
  type AlertMessage,
  type ContainerState,
  type ContainerStatus,
  type ContainerStatusMessage,
  type Envelope,
  type EnvelopeType,
  type ErrorPacket,
  type HeartbeatPacket,
  type MetricMeta,
  type ServerPacket,
  type SnapshotEndPacket,
  type SnapshotPacket,
  type SourceStatus,
  type SourceStatusPacket,
  type StatusPacket,
  type SystemMetric,
  type SystemMetricMessage,
} from './protocol/wire.js';
export { parsePacket } from './protocol/parse-packet.js';
export type { RedisLike } from './redis/redis-connection.js';
export { historyStreamKey } from './redis/history-script.js';
export type { RedisState } from './redis/health.js';
export type { HealthReport, SystemStreamRouter } from './server/http/router.js';
export { alertSchema, containerStatusSchema, messageSchema, schemaFiles, systemMetricSchema } from './protocol/schemas.js';
export type { SystemStreamStats } from './server/stats.js';
export {
  createSystemPublisher,
  type AlertInput,
  type ContainerStatusInput,
  type MetricInput,
  type SystemPublisher,
} from './publisher/publisher.js';
export type { SystemPublisherOptions } from './publisher/publisher-options.js';
export { createInProcessBus, type InProcessBus } from './redis/in-process-bus.js';
