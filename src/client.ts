// Browser entry point (`system-stream/client`): nothing here may import Node modules, ws or ioredis.
export { CloseCode, isTerminalCloseCode } from './protocol/close-codes.js';
// StreamManager's constructor throws this for a bad option (code SST_ERR_INVALID_OPTION), as the server does.
export { SystemStreamError, type SystemStreamErrorCode } from './shared/errors.js';
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
export { backoffDelay } from './client/backoff.js';
export { StreamManager } from './client/stream-manager.js';
export type {
  StreamManagerEventMap,
  StreamManagerOptions,
  StreamDiscard,
  StreamObserver,
  StreamState,
  StreamStatus,
  StreamSubscription,
} from './client/types.js';
export type {
  FetchLike,
  NetworkSource,
  StreamManagerTimers,
  VisibilitySource,
  WebSocketConstructor,
  WebSocketLike,
} from './client/environment.js';
