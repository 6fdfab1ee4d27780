// Entry of `system-stream/publisher`: the publisher, the schemas, the wire types and the errors, for
// hosts that produce envelopes without serving WebSockets. Loads ioredis and ajv, never ws, express or
// rxjs (test/unit/publisher/publisher-entry.test.ts checks the built import graph).
export { SystemStreamError, SystemStreamValidationError, type SystemStreamErrorCode, type ValidationIssue } from './shared/errors.js';
export { noopLogger, type Logger } from './shared/logger.js';
export {
  ENVELOPE_TYPES,
  envelopeKey,
  type Alert,
  type AlertLevel,
  type AlertMessage,
  type ContainerState,
  type ContainerStatus,
  type ContainerStatusMessage,
  type Envelope,
  type EnvelopeType,
  type MetricMeta,
  type SystemMetric,
  type SystemMetricMessage,
} from './protocol/wire.js';
export {
  createSystemPublisher,
  type AlertInput,
  type ContainerStatusInput,
  type MetricInput,
  type SystemPublisher,
} from './publisher/publisher.js';
export type { SystemPublisherOptions } from './publisher/publisher-options.js';
export type { RedisLike } from './redis/redis-connection.js';
export { historyStreamKey } from './redis/history-script.js';
export { alertSchema, containerStatusSchema, messageSchema, schemaFiles, systemMetricSchema } from './protocol/schemas.js';
