import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { interval, merge, type Observable, share, Subject, tap } from 'rxjs';
import { WebSocketServer } from 'ws';
import { createAuthenticator, type AuthDecision } from './auth.js';
import { CloseCode } from './close-codes.js';
import { ClientConnection, type ConnectionContext } from './connection.js';
import { redisDownDelivery, redisUpDelivery, type Delivery } from './delivery.js';
import { invalidOption, SystemStreamError } from './errors.js';
import { HistoryStore, sinceOf } from './history.js';
import { createRateLimitedLog } from './logger.js';
import { resolveOptions, type SystemStreamOptions } from './options.js';
import { createPipeline } from './pipeline.js';
import { PROTOCOL_V1, type Envelope } from './protocol.js';
import { describeEndpoint, openRedisConnection } from './redis/connection.js';
import { watchRedisHealth } from './redis/health.js';
import { openMessageSources } from './redis/message-sources.js';
import { createReadyDeadline } from './redis/ready-deadline.js';
import { createRouter, type SystemStreamRouter } from './router.js';
import { SnapshotStore } from './snapshot.js';
import { createCounters, type SystemStreamStats } from './stats.js';
import { createUpgradeHandler } from './upgrade.js';
import { assertRouteFree, routeUpgrades } from './upgrade-routes.js';

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
  /**
   * Middleware serving `GET snapshot`, `GET health` (liveness: 200 even while Redis is down), `GET ready`
   * (readiness: 503 while Redis is not up), and 426 for plain HTTP on the WebSocket path. See {@link HealthReport}.
   */
  router(): SystemStreamRouter;
  /** Closes clients with 1001, unsubscribes, closes the Redis connection it opened, removes its listeners. Idempotent. */
  close(): Promise<void>;
}

/** How often a client that is behind is retried (one shared timer, running only while someone is behind). */
const DRAIN_INTERVAL_MS = 25;
/** How long `close()` waits for clients to answer the close handshake before cutting them off. */
const CLOSE_GRACE_MS = 1000;
/** Most packets held for one slow client: a dashboard's keys, with room to spare. */
const MAX_HELD_PER_CLIENT = 5000;
/** Largest frame a client may send; clients only listen, so any data frame is closed anyway. */
const MAX_CLIENT_FRAME_BYTES = 1024;
const LOG_INTERVAL_MS = 10_000;
/** A handshake whose `since` is not one valid time. */
const BAD_SINCE: AuthDecision = Object.freeze({ ok: false, status: 400 });

/**
 * Serves the Redis channel's messages to WebSocket clients on `server`, at `options.path`.
 * Throws {@link SystemStreamError} `SST_ERR_INVALID_OPTION` for bad options and
 * `SST_ERR_ALREADY_ATTACHED` if a stream already serves this path on this server; nothing is attached then.
 *
 * Redis permissions: the subscriber needs SUBSCRIBE on the channel (ACL `+subscribe &system:metrics`) and
 * nothing else. Its health check sends PING, and re-sends SUBSCRIBE instead once Redis refuses PING to the
 * user; granting `+ping` spares Redis's ACL log that one refusal. Without `+client|setname` the connection
 * simply has no name. A refused SUBSCRIBE never ends the process: the stream is `down` and retries.
 * @public
 */
export function attachSystemStream(server: HttpServer | HttpsServer, options?: SystemStreamOptions): SystemStream {
  if (typeof server !== 'object' || server === null || typeof server.on !== 'function' || typeof server.listenerCount !== 'function') {
    throw invalidOption('Expected `server` to be an http.Server or https.Server');
  }
  const o = resolveOptions(options);
  assertRouteFree(server as HttpServer, o.path);

  const { logger } = o;
  const counters = createCounters();
  const snapshot = new SnapshotStore(o.maxSnapshotKeys);
  const history = new HistoryStore({ historyMs: o.historyMs, maxPerKey: o.maxHistoryPerKey, maxEntries: o.maxHistoryEntries });
  const messages = new Subject<Envelope>();
  const batches = new Subject<readonly Delivery[]>();
  const clients = new Set<ClientConnection>();
  let nextClientId = 0;

  const ctx: ConnectionContext = {
    batches$: batches,
    drain$: interval(DRAIN_INTERVAL_MS).pipe(share()),
    counters,
    logger,
    maxBufferedBytes: o.maxBufferedBytes,
    slowClientTimeoutMs: o.slowClientTimeoutMs,
    maxMessagesPerSecond: o.maxMessagesPerSecond,
    maxHeldPerClient: MAX_HELD_PER_CLIENT,
    onClosed(client, code) {
      clients.delete(client);
      logger.debug({ clientId: client.id, code }, 'client disconnected');
    },
  };

  // Redis: one subscriber connection, always ours (a URL, or a duplicate of the host's client).
  const redis = openRedisConnection(o.redis, 'subscriber', logger);
  const { promise: ready, settle: settleReady } = createReadyDeadline({ timeoutMs: o.readyTimeoutMs, endpoint: describeEndpoint(redis), logger });

  let everDown = false;
  // A user that may SUBSCRIBE but not PING is health-checked by re-sending SUBSCRIBE, which it must be allowed.
  const healthOptions = { intervalMs: o.redisHealthCheckMs, fallbackProbe: () => redis.subscribe(o.channel), logger };
  const health = watchRedisHealth(redis, healthOptions, (state, reason) => {
    if (state === 'up') {
      void sources.loaded.then(() => settleReady());
      if (everDown) {
        logger.info({ channel: o.channel }, 'redis subscription restored');
        batches.next([redisUpDelivery()]);
      } else {
        logger.info({ channel: o.channel, path: o.path }, 'system stream subscribed');
      }
      everDown = false;
    } else if (state === 'down') {
      everDown = true;
      // Once per outage, not once per reconnect attempt.
      logger.error({ channel: o.channel, reason }, 'redis unavailable; clients notified with 503');
      batches.next([redisDownDelivery()]);
    }
  });

  const logInvalid = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'dropped invalid message', LOG_INTERVAL_MS);
  // The channel's live messages and, with the Redis-backed history, what a reconnect missed.
  const sources = openMessageSources(redis, o, history, {
    onSubscribed: () => health.subscribed(),
    onRefused(err, attempt) {
      health.refused();
      const message = err instanceof Error ? err.message : String(err);
      // Once per outage: SUBSCRIBE is retried with backoff until Redis allows it.
      if (attempt === 1) logger.error({ channel: o.channel, err: { message } }, 'redis refused SUBSCRIBE; retrying until it is allowed');
      settleReady(new SystemStreamError('SST_ERR_REDIS_UNAVAILABLE', `Redis refused SUBSCRIBE to ${o.channel}: ${message}`, { cause: err }));
    },
    onRecovered: (count) => void (counters.recovered += count),
  });
  const hooks: Parameters<typeof createPipeline>[2] = {
    onInvalid(reason, detail) {
      counters.invalid++;
      const fields = detail.errors?.slice(0, 3).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`.trim());
      logInvalid({ channel: o.channel, reason, byteLength: detail.byteLength, fields });
    },
    onValid(envelope, key) {
      counters.valid++;
      snapshot.update(envelope, key);
      messages.next(envelope);
    },
    onThrottled() {
      counters.throttled++;
    },
  };
  const pipeline = merge(
    createPipeline(sources.live$.pipe(tap(() => counters.received++)), o, hooks),
    // Read back from the Redis stream: published long enough ago that its throttle windows are over.
    createPipeline(sources.recovered$, { maxMessageBytes: o.maxMessageBytes, throttleMs: 0 }, hooks),
  ).subscribe({
    next: (batch) => {
      history.record(batch); // before it goes out: a client accepted from now on gets it live, not twice
      batches.next(batch);
    },
    error: (err: unknown) => {
      logger.error({ err, channel: o.channel }, 'redis subscription failed');
      settleReady(new SystemStreamError('SST_ERR_REDIS_UNAVAILABLE', `Could not subscribe to ${o.channel}`, { cause: err }));
    },
  });

  // WebSockets: upgrade on our path only; no compression (it would compress each broadcast once per client).
  // The upgrade handler has refused every list of subprotocols without v1, so v1 is selected whenever any
  // is offered (and never the key subprotocol).
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: MAX_CLIENT_FRAME_BYTES,
    handleProtocols: () => PROTOCOL_V1,
  });
  const authenticate = createAuthenticator(o);
  const onUpgrade = createUpgradeHandler({
    path: o.path,
    wss,
    logger,
    allowedOrigins: o.allowedOrigins,
    authenticate: (req) => (sinceOf(req.url) === null ? BAD_SINCE : authenticate(req)),
    hasCapacity: () => clients.size < o.maxClients,
    onRejected(status) {
      counters.rejected++;
      logger.debug({ path: o.path, status }, 'handshake refused');
    },
    accept(ws, req, types) {
      const id = `c${++nextClientId}`;
      const client = new ClientConnection(id, ws, types, ctx);
      clients.add(client);
      const sinceMs = sinceOf(req.url);
      client.sendNow(typeof sinceMs === 'number' ? history.replay(sinceMs, snapshot.deliveries(types), types).deliveries : snapshot.deliveries(types));
      if (health.state === 'down') client.sendNow([redisDownDelivery()]);
      logger.debug({ clientId: id, path: o.path }, 'client connected');
    },
  });
  // Claim the path only now, together with the listener: an attach that threw above leaves the path free
  // for a corrected retry.
  const unroute = routeUpgrades(server as HttpServer, o.path, onUpgrade);

  // Heartbeat: one timer for all clients; a client that missed the previous ping is cut off.
  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (client.isAlive) {
        client.ping();
      } else {
        counters.deadClientsTerminated++;
        logger.debug({ clientId: client.id }, 'no pong; terminating client');
        client.terminate();
      }
    }
  }, o.heartbeatIntervalMs);
  heartbeat.unref();

  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    unroute();
    onUpgrade.closePending();
    clearInterval(heartbeat);
    health.stop();
    settleReady(new SystemStreamError('SST_ERR_CLOSED', 'The stream was closed before its Redis subscription was ready'));
    pipeline.unsubscribe();
    sources.close();
    batches.complete();
    messages.complete();
    for (const client of clients) client.close(CloseCode.GoingAway, 'server shutting down');
    if (clients.size > 0) await waitUntil(() => clients.size === 0, CLOSE_GRACE_MS);
    for (const client of clients) client.terminate();
    clients.clear();
    redis.disconnect();
    wss.close();
    logger.info({ path: o.path }, 'system stream closed');
  };

  return {
    ready,
    messages$: messages.asObservable(),
    path: o.path,
    stats: () => ({ ...counters, clients: clients.size, redis: health.state }),
    snapshot: () => snapshot.envelopes(),
    router: () =>
      createRouter({
        wsPath: o.path,
        logger,
        authenticate,
        snapshotJson: (types) => snapshot.json(types),
        health: () => ({
          redis: health.state,
          clients: clients.size,
          maxClients: o.maxClients,
        }),
      }),
    close: () => (closed ??= close()),
  };
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes. */
function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const check = (): void => {
      if (condition() || Date.now() >= deadline) resolve();
      else setTimeout(check, 10);
    };
    check();
  });
}
