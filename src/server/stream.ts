// The handle attachSystemStream returns. (Not system-stream.ts: tsc would emit dist/system-stream.d.ts, the rollup's name.)
import type { Observable } from 'rxjs';
import type { MetricsRegistry } from './http/metrics.js';
import type { Envelope } from '../protocol/wire.js';
import type { SystemStreamRouter } from './http/router.js';
import type { SystemStreamStats } from './stats.js';

/**
 * A stream attached to a server, returned by {@link attachSystemStream}.
 * @public
 */
export interface SystemStream {
  /**
   * Resolves once Redis has confirmed the subscription and answered a health check. Rejects with
   * `SST_ERR_REDIS_UNAVAILABLE` if the first SUBSCRIBE is refused (e.g. an ACL without the channel) or
   * Redis is not ready within `readyTimeoutMs`, and with `SST_ERR_CLOSED` if the stream is closed first.
   * A rejection does not stop the stream: it keeps retrying and recovers by itself, telling clients with
   * a status packet; watch `stats().redis` or `GET …/ready`.
   */
  readonly ready: Promise<void>;
  /** Every valid envelope from Redis, before throttling, for the host to log or persist. Completes on `close()`. */
  readonly messages$: Observable<Envelope>;
  /** The WebSocket path served. */
  readonly path: string;
  /** Counters and current state. */
  stats(): SystemStreamStats;
  /** The latest envelope of every key: what a new client receives first. */
  snapshot(): Envelope[];
  /** The Prometheus registry holding the stream's metrics when the `metrics` option is set, else `undefined`. */
  readonly metrics: MetricsRegistry | undefined;
  /**
   * Middleware serving `GET snapshot`, `GET health` (liveness: 200 even while Redis is down), `GET ready`
   * (readiness: 503 while Redis is not up), `GET metrics` (with the `metrics` option), and 426 for plain
   * HTTP on the WebSocket path. See {@link HealthReport}.
   */
  router(): SystemStreamRouter;
  /**
   * Replaces the accepted API keys at once, checked as the `apiKeys` option is (throws
   * `SST_ERR_INVALID_OPTION`, and changes nothing, for a bad list). New handshakes and `GET …/snapshot`
   * and `…/metrics` requests are checked against the new keys from this call on; WebSockets opened with a
   * key that is no longer accepted are closed with `CloseCode.Unauthorized` (4401, reason `API key revoked`)
   * within this call. Connections let in by a token or by `authenticate` are not affected. Throws for a
   * stream attached with `auth: false`.
   */
  setApiKeys(keys: readonly string[]): void;
  /** Closes clients with 1001, unsubscribes, closes the Redis connection it opened, removes its listeners. Idempotent. */
  close(): Promise<void>;
}
