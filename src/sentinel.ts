// Entry of `system-stream/sentinel`: the systeminformation-based sampler that publishes this host's
// metrics, kept out of the main entry so that `import 'system-stream'` never loads systeminformation.
// The `system-stream-sentinel` CLI (./cli.ts) runs this entry's `startSentinel`.
export { DEFAULT_THRESHOLDS, type AlertThresholds, type ThresholdSetting } from './sentinel/alerts.js';
export type { SentinelOptions } from './sentinel/sentinel-options.js';
export { sampleSystem, type Sampler, type SystemSample } from './sentinel/sample.js';
export { startSentinel, type Sentinel } from './sentinel/sentinel.js';
// Types the options and the publisher they accept refer to, so that the entry's API is whole by itself.
export { SystemStreamError, SystemStreamValidationError, type SystemStreamErrorCode, type ValidationIssue } from './shared/errors.js';
export type { Logger } from './shared/logger.js';
export type {
  Alert,
  AlertLevel,
  AlertMessage,
  ContainerState,
  ContainerStatus,
  ContainerStatusMessage,
  Envelope,
  EnvelopeType,
  MetricMeta,
  SystemMetric,
  SystemMetricMessage,
} from './protocol/wire.js';
// The publisher too, for a sentinel that should publish through a connection the host configures.
export {
  createSystemPublisher,
  type AlertInput,
  type ContainerStatusInput,
  type MetricInput,
  type SystemPublisher,
} from './publisher/publisher.js';
export type { SystemPublisherOptions } from './publisher/publisher-options.js';
export type { RedisLike } from './redis/redis-connection.js';
