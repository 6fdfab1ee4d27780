// Browser entry point (`system-stream/client`): nothing here may import Node modules, ws or ioredis.
export { CloseCode, isTerminalCloseCode } from '../close-codes.js';
export {
  ENVELOPE_TYPES,
  envelopeKey,
  keyProtocol,
  KEY_PROTOCOL_PREFIX,
  parsePacket,
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
} from '../protocol.js';
export { backoffDelay } from './backoff.js';
export { StreamManager } from './stream-manager.js';
export type {
  FetchLike,
  StreamManagerEventMap,
  StreamManagerOptions,
  StreamManagerTimers,
  StreamObserver,
  StreamState,
  StreamStatus,
  StreamSubscription,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';
