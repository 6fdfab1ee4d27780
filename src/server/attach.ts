import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { Subject, tap } from 'rxjs';
import { CloseCode } from '../protocol/close-codes.js';
import { redisDownDelivery, redisUpDelivery, type Delivery } from './fanout/delivery.js';
import { pick } from '../shared/pick.js';
import { Fanout, FANOUT_OPTION_NAMES } from './fanout/hub.js';
import { HistoryStore } from './state/history.js';
import { createStreamMetrics } from './http/metrics.js';
import { createMetricsRoute } from './http/metrics-route.js';
import { resolveOptions, type SystemStreamOptions } from './options.js';
import { startIngest } from './ingest.js';
import { createPipelineHooks } from './pipeline-hooks.js';
import type { Envelope } from '../protocol/wire.js';
import { openSubscription, SUBSCRIPTION_OPTION_NAMES } from '../redis/subscription.js';
import { createRouter } from './http/router.js';
import { SnapshotStore } from './state/snapshot.js';
import { startStalenessTracker } from './state/source-staleness.js';
import { createCounters, createLabelledCounters, statsOf } from './stats.js';
import type { SystemStream } from './stream.js';
import { createStreamHandshake, HANDSHAKE_OPTION_NAMES } from './handshake/handshake.js';
import { assertRouteFree, assertServer, routeUpgrades } from './handshake/routes.js';

/** How long `close()` waits for clients to answer the close handshake before cutting them off. */
const CLOSE_GRACE_MS = 1000;
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
  assertServer(server);
  const o = resolveOptions(options);
  assertRouteFree(server, o.path);

  const { logger } = o;
  const counters = createCounters();
  const labelled = createLabelledCounters();
  const snapshot = new SnapshotStore(o.maxSnapshotKeys);
  const history = new HistoryStore({ historyMs: o.historyMs, maxPerKey: o.maxHistoryPerKey, maxEntries: o.maxHistoryEntries });
  const messages = new Subject<Envelope>();
  // Before anything is opened or registered: a missing prom-client or a registry that already holds our names throws here.
  const gauges = { clients: (): number => fanout.size, isRedisUp: (): boolean => subscription.state === 'up' };
  const metrics = o.metrics && createStreamMetrics(o.metrics, { counters, labelled, ...gauges });
  const fanout: Fanout = new Fanout({ ...pick(o, FANOUT_OPTION_NAMES), counters, onWritten: metrics?.written });

  // Redis: the stream's own subscriber; each outage and recovery is told to every client once.
  const subscription = openSubscription({
    ...pick(o, SUBSCRIPTION_OPTION_NAMES),
    history,
    onLost: () => fanout.broadcast([redisDownDelivery()]),
    onRestored() {
      labelled.redisReconnects++;
      fanout.broadcast([redisUpDelivery()]);
    },
  });

  // Silent producers: one tracker and one timer for all sources and clients, fed by every valid envelope.
  const staleness = startStalenessTracker(pick(o, ['staleAfterIntervals', 'staleFloorMs']), (batch) => fanout.broadcast(batch));
  const fanOut = (batch: readonly Delivery[]): void => {
    history.record(batch); // before it goes out: a client accepted from now on gets it live, not twice
    fanout.broadcast(batch);
  };
  const pipeline = startIngest({
    live$: subscription.messages$.pipe(tap(() => counters.received++)),
    recovered$: subscription.recovered$,
    options: pick(o, ['maxMessageBytes', 'maxClockSkewMs', 'throttleMs', 'writeDelayMs']),
    hooks: createPipelineHooks({ ...pick(o, ['logger', 'channel']), counters, labelled, snapshot, messages }),
    messages$: messages,
    staleness,
    fanOut: metrics?.timeFanOut(fanOut) ?? fanOut,
    onError: (err) => subscription.fail(err),
  });

  const handshake = createStreamHandshake(pick(o, HANDSHAKE_OPTION_NAMES), {
    counters,
    labelled,
    clients: () => fanout.size,
    accept(ws, { filter, sinceMs }) {
      const stale = staleness.staleDeliveries(filter); // only the sources this client may see
      const first =
        typeof sinceMs === 'number'
          ? history.replay(sinceMs, snapshot.deliveries(filter), filter, stale)
          : snapshot.deliveries(filter, stale);
      const stateNow = subscription.state === 'down' ? [[redisDownDelivery()]] : [];
      fanout.accept(ws, filter, [first, ...stateNow]);
    },
  });
  // Claim the path only now, together with the listener: an attach that threw above leaves it free for a retry.
  const unroute = routeUpgrades(server, o.path, handshake.onUpgrade);

  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    unroute();
    handshake.close();
    subscription.close();
    staleness.stop();
    pipeline.unsubscribe();
    messages.complete();
    await fanout.closeAll(CloseCode.GoingAway, 'server shutting down', CLOSE_GRACE_MS);
    metrics?.close();
    logger.info({ event: 'closed', path: o.path }, 'system stream closed');
  };

  return {
    ready: subscription.ready,
    messages$: messages.asObservable(),
    path: o.path,
    stats: () => statsOf(counters, subscription, fanout.size),
    snapshot: () => snapshot.envelopes(),
    metrics: metrics?.registry,
    setApiKeys: handshake.setApiKeys,
    router: () =>
      createRouter({
        wsPath: o.path,
        logger,
        authenticate: handshake.admitRequest,
        snapshotJson: (filter) => snapshot.json(filter),
        health: () => ({ redis: subscription.state, clients: fanout.size, maxClients: o.maxClients }),
        metrics: metrics && createMetricsRoute(metrics.registry, o.metricsAuth === 'same' ? handshake.admitRequest : undefined, logger),
      }),
    close: () => (closed ??= close()),
  };
}
