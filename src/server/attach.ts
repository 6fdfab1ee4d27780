import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { merge, Subject, tap } from 'rxjs';
import { createAuthenticator, type AuthDecision } from './handshake/auth.js';
import { CloseCode } from '../protocol/close-codes.js';
import { redisDownDelivery, redisUpDelivery, type Delivery } from './fanout/delivery.js';
import { invalidOption, SystemStreamError } from '../shared/errors.js';
import { Fanout } from './fanout/hub.js';
import { HistoryStore, sinceOf } from './state/history.js';
import { createStreamMetrics } from './http/metrics.js';
import { createMetricsRoute } from './http/metrics-route.js';
import { resolveOptions, type SystemStreamOptions } from './options.js';
import { createPipeline } from './pipeline.js';
import { createPipelineHooks } from './pipeline-hooks.js';
import type { Envelope } from '../protocol/wire.js';
import { openSubscription } from '../redis/subscription.js';
import { createRouter } from './http/router.js';
import { SnapshotStore } from './state/snapshot.js';
import { createRefusalSummary } from './handshake/refusal-summary.js';
import { startStalenessTracker } from './state/source-staleness.js';
import { createCounters, createLabelledCounters } from './stats.js';
import type { SystemStream } from './stream.js';
import { createUpgradeHandler } from './handshake/upgrade.js';
import { assertRouteFree, routeUpgrades } from './handshake/routes.js';

/** How long `close()` waits for clients to answer the close handshake before cutting them off. */
const CLOSE_GRACE_MS = 1000;
const LOG_INTERVAL_MS = 10_000;
/** A handshake whose `since` is not one valid time. */
const BAD_SINCE: AuthDecision = Object.freeze({ ok: false, status: 400 });

/**
 * Serves the Redis channel's messages to WebSocket clients on `server`, at `options.path`.
 * Throws {@link SystemStreamError} `SST_ERR_INVALID_OPTION` for bad options and
 * `SST_ERR_ALREADY_ATTACHED` if a stream already serves this path on this server; nothing is attached then.
 *
 * Redis permissions: the subscriber needs only SUBSCRIBE on the channel (`SSUBSCRIBE` with `sharded`; see
 * `openSubscription`); a refused SUBSCRIBE never ends the process: the stream is `down` and retries.
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
  const labelled = createLabelledCounters();
  const snapshot = new SnapshotStore(o.maxSnapshotKeys);
  const history = new HistoryStore({ historyMs: o.historyMs, maxPerKey: o.maxHistoryPerKey, maxEntries: o.maxHistoryEntries });
  const messages = new Subject<Envelope>();
  // Before anything is opened or registered: a missing prom-client or a registry that already holds our names throws here.
  const gauges = { clients: (): number => fanout.size, isRedisUp: (): boolean => subscription.state === 'up' };
  const metrics = o.metrics && createStreamMetrics(o.metrics, { counters, labelled, ...gauges });
  const fanout: Fanout = new Fanout({ ...o, counters, onWritten: metrics?.written });

  // Redis: the stream's own subscriber; each outage and recovery is told to every client once.
  const subscription = openSubscription({
    ...o,
    history,
    onLost: () => fanout.broadcast([redisDownDelivery()]),
    onRestored() {
      labelled.redisReconnects++;
      fanout.broadcast([redisUpDelivery()]);
    },
  });

  // Silent producers: one tracker and one timer for all sources and clients, fed by every valid envelope.
  const staleness = startStalenessTracker(o, (batch) => fanout.broadcast(batch));
  messages.subscribe((envelope) => staleness.observe(envelope));

  // The shared path, run once per message whatever the number of clients.
  const fanOut = (batch: readonly Delivery[]): void => {
    history.record(batch); // before it goes out: a client accepted from now on gets it live, not twice
    fanout.broadcast(batch);
  };
  const hooks = createPipelineHooks({ ...o, counters, labelled, snapshot, messages });
  const pipeline = merge(
    createPipeline(subscription.messages$.pipe(tap(() => counters.received++)), o, hooks),
    // Read back from the Redis stream: published long enough ago that its throttle windows are over.
    createPipeline(subscription.recovered$, { ...o, throttleMs: 0 }, hooks),
  ).subscribe({
    next: metrics?.timeFanOut(fanOut) ?? fanOut,
    error: (err: unknown) => subscription.fail(err),
  });

  const authenticate = createAuthenticator(o);
  const refusals = createRefusalSummary((obj, msg) => logger.warn({ ...obj, path: o.path }, msg), LOG_INTERVAL_MS);
  const onUpgrade = createUpgradeHandler({
    ...o,
    authenticate: (req) => (sinceOf(req.url) === null ? BAD_SINCE : authenticate(req)),
    hasCapacity: () => fanout.size < o.maxClients,
    onRejected(outcome, status) {
      counters.rejected++;
      labelled.handshakes[outcome]++;
      refusals.refused(outcome);
      logger.debug({ event: 'handshake_refused', path: o.path, status, outcome }, 'handshake refused');
    },
    accept(ws, req, filter) {
      labelled.handshakes.accepted++;
      const sinceMs = sinceOf(req.url);
      const stale = staleness.staleDeliveries(filter); // only the sources this client may see
      const first =
        typeof sinceMs === 'number'
          ? history.replay(sinceMs, snapshot.deliveries(filter), filter, stale).deliveries
          : snapshot.deliveries(filter, stale);
      const stateNow = subscription.state === 'down' ? [[redisDownDelivery()]] : [];
      fanout.accept(ws, filter, [first, ...stateNow]);
    },
  });
  // Claim the path only now, together with the listener: an attach that threw above leaves it free for a retry.
  const unroute = routeUpgrades(server as HttpServer, o.path, onUpgrade);

  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    unroute();
    onUpgrade.close();
    subscription.close();
    staleness.stop();
    pipeline.unsubscribe();
    messages.complete();
    await fanout.closeAll(CloseCode.GoingAway, 'server shutting down', CLOSE_GRACE_MS);
    refusals.close();
    metrics?.close();
    logger.info({ event: 'closed', path: o.path }, 'system stream closed');
  };

  return {
    ready: subscription.ready,
    messages$: messages.asObservable(),
    path: o.path,
    stats: () => ({ ...counters, recovered: subscription.recoveredCount, clients: fanout.size, redis: subscription.state }),
    snapshot: () => snapshot.envelopes(),
    metrics: metrics?.registry,
    router: () =>
      createRouter({
        wsPath: o.path,
        logger,
        authenticate,
        snapshotJson: (filter) => snapshot.json(filter),
        health: () => ({ redis: subscription.state, clients: fanout.size, maxClients: o.maxClients }),
        metrics: metrics && createMetricsRoute(metrics.registry, o.metricsAuth === 'same' ? authenticate : undefined, logger),
      }),
    close: () => (closed ??= close()),
  };
}
