// The stream's Prometheus metrics. prom-client is an optional peer dependency: this file imports only its
// types (erased at compile time) and loads it with require() when a stream is attached with `metrics`,
// so the main entry never loads it otherwise. prom-client is CommonJS, so a synchronous require keeps
// attachSystemStream synchronous and lets a missing install fail there, as a bad option.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Delivery } from '../fanout/delivery.js';
import { invalidOption, SystemStreamError } from '../../shared/errors.js';
import type { LabelledCounters, StreamCounters } from '../stats.js';

/**
 * The part of a prom-client `Registry` that the stream uses, typed structurally (as {@link RedisLike}
 * is) so that the main entry's types never need prom-client: a `Registry` of prom-client 15 fits as it
 * is, and `stream.metrics as Registry` gives back prom-client's own type.
 * @public
 */
export interface MetricsRegistry {
  /** The text exposition of every metric in the registry. */
  metrics(): Promise<string>;
  /** The `Content-Type` of what `metrics()` returns. */
  readonly contentType: string;
  /** Adds a metric; throws if the registry holds another of that name. */
  registerMetric(metric: object): void;
  /** The metric of that name, if registered. */
  getSingleMetric(name: string): unknown;
  /** Removes the metric of that name. */
  removeSingleMetric(name: string): void;
}

/** What the metrics read at scrape time: the stream's own counters and state, never copied on the hot path. */
export interface MetricsSource {
  readonly counters: StreamCounters;
  readonly labelled: LabelledCounters;
  clients(): number;
  isRedisUp(): boolean;
}

export interface StreamMetrics {
  readonly registry: MetricsRegistry;
  /**
   * The connection's hook, called after each socket write of a live batch (not the snapshot): observes
   * the delivery lag of every envelope in it that no client had been written before.
   */
  readonly written: (batch: readonly Delivery[]) => void;
  /** Wraps the fan-out of live batches so that each one's duration is observed. */
  timeFanOut(fanOut: (batch: readonly Delivery[]) => void): (batch: readonly Delivery[]) => void;
  /** Removes the stream's metrics from the registry, so that a later stream can register them again. */
  close(): void;
}

/** Delivery-lag buckets in seconds: 1 ms to 1 s in 1-2-5 steps, then +Inf. */
export const LAG_BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];
/** Fan-out buckets in seconds: 100 µs (one client) to 1 s (thousands of slow sockets). */
export const FANOUT_BUCKETS_S = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

type PromClientModule = typeof PromClient;

/**
 * Loads prom-client, or throws `SST_ERR_INVALID_OPTION` saying how to install it.
 * @param load - `require` as seen from this package (a test passes one that fails)
 */
export function loadPromClient(load: (id: string) => unknown = createRequire(import.meta.url)): PromClientModule {
  let loaded: Partial<PromClientModule> | undefined;
  try {
    loaded = load('prom-client') as Partial<PromClientModule>;
  } catch (err) {
    throw new SystemStreamError(
      'SST_ERR_INVALID_OPTION',
      'The `metrics` option needs prom-client, an optional peer dependency that is not installed: run `npm install prom-client@^15.1.0`',
      { cause: err },
    );
  }
  if (typeof loaded?.Registry !== 'function' || typeof loaded.Counter !== 'function' || typeof loaded.Histogram !== 'function') {
    throw invalidOption(
      'The `metrics` option needs prom-client 15 (^15.1.0), but the installed prom-client has no Registry, Counter and Histogram',
    );
  }
  return loaded as PromClientModule;
}

/**
 * Creates the stream's metrics and registers them into `target` (a prom-client `Registry`, or a new one
 * for `true`). Every name is checked before any is registered, so a clash (a second stream on the same
 * registry) throws `SST_ERR_INVALID_OPTION` and leaves the registry as it was.
 *
 * Counters and gauges read the stream's own numbers in `collect()`, at scrape time; only the two
 * histograms are written on the way, once per envelope and once per batch, never per client.
 */
export function createStreamMetrics(
  target: true | MetricsRegistry,
  source: MetricsSource,
  prom: PromClientModule = loadPromClient(),
): StreamMetrics {
  const registry: MetricsRegistry = target === true ? new prom.Registry() : target;
  const { counters, labelled } = source;
  const registers: PromClient.Registry[] = []; // registered below, all at once or none

  // Each metric is listed with its name: prom-client's types do not declare a metric's `name`.
  type Named = readonly [name: string, metric: object];
  const counter = (name: string, help: string, read: () => number): Named => [
    name,
    new prom.Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    }),
  ];
  const labelledCounter = (name: string, help: string, label: string, counts: Readonly<Record<string, number>>): Named => [
    name,
    new prom.Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect() {
        this.reset();
        for (const [value, count] of Object.entries(counts)) this.inc({ [label]: value }, count);
      },
    }),
  ];
  const gauge = (name: string, help: string, read: () => number): Named => [
    name,
    new prom.Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    }),
  ];

  const lag = new prom.Histogram({
    name: 'system_stream_delivery_lag_seconds',
    help: "Seconds from an envelope's time to the first socket write that carried it to a client; observed once per envelope, not per client (not for the snapshot sent on connect, nor for envelopes no client received)",
    buckets: LAG_BUCKETS_S,
    registers,
  });
  const fanout = new prom.Histogram({
    name: 'system_stream_fanout_seconds',
    help: 'Seconds from a batch reaching the fan-out to the end of the last socket write for it; observed once per batch while clients are connected',
    buckets: FANOUT_BUCKETS_S,
    registers,
  });

  const all: readonly Named[] = [
    gauge('system_stream_clients', 'WebSocket clients connected now', source.clients),
    labelledCounter(
      'system_stream_handshakes_total',
      'WebSocket handshakes on the stream path, by outcome',
      'outcome',
      labelled.handshakes,
    ),
    counter('system_stream_redis_messages_total', 'Messages received on the Redis channel', () => counters.received),
    labelledCounter(
      'system_stream_envelopes_total',
      'Valid envelopes received, by type (a batch counts each member)',
      'type',
      labelled.envelopes,
    ),
    labelledCounter(
      'system_stream_invalid_messages_total',
      'Redis messages or batch members dropped as invalid, by reason',
      'reason',
      labelled.invalid,
    ),
    counter(
      'system_stream_throttled_total',
      'Envelopes replaced by a newer value of the same key within a throttle window',
      () => counters.throttled,
    ),
    counter('system_stream_conflated_total', 'Packets replaced or dropped for a client that was behind', () => counters.conflated),
    counter(
      'system_stream_deliveries_total',
      'Packets written to clients from the live stream, counted per client',
      () => counters.delivered,
    ),
    counter(
      'system_stream_frame_bytes_total',
      'Bytes of the frames written to clients as they would be without compression',
      () => counters.bytesBeforeCompression,
    ),
    counter(
      'system_stream_written_bytes_total',
      'Bytes of the frames written to clients, after permessage-deflate for the clients that negotiated it',
      () => counters.bytesWritten,
    ),
    counter(
      'system_stream_slow_clients_closed_total',
      'Clients closed for not reading (close code 4429)',
      () => counters.slowClientsClosed,
    ),
    counter(
      'system_stream_dead_clients_terminated_total',
      'Clients terminated for not answering a heartbeat ping',
      () => counters.deadClientsTerminated,
    ),
    gauge('system_stream_redis_up', '1 while the Redis subscription can deliver, else 0', () => (source.isRedisUp() ? 1 : 0)),
    counter(
      'system_stream_redis_reconnects_total',
      'Times the Redis subscription came back after an outage',
      () => labelled.redisReconnects,
    ),
    ['system_stream_delivery_lag_seconds', lag],
    ['system_stream_fanout_seconds', fanout],
  ];

  const taken = all.filter(([name]) => registry.getSingleMetric(name) !== undefined).map(([name]) => name);
  if (taken.length > 0) {
    throw invalidOption(
      `The \`metrics\` registry already holds ${taken.join(', ')}: is another stream registered in it? Give each stream its own Registry (\`metrics: true\`), and merge them with prom-client's Registry.merge() to serve them together`,
    );
  }
  for (const [, metric] of all) registry.registerMetric(metric);

  // An envelope is observed at the first write that carries it. The shared batch reaches every client as
  // the same array, so the check against the last array seen makes that O(1) per client; copies (a
  // client's filtered view, what a client that was behind gets later) are checked envelope by envelope.
  const observed = new WeakSet<Delivery>();
  let lastBatch: readonly Delivery[] | null = null;
  const written = (batch: readonly Delivery[]): void => {
    if (batch === lastBatch) return;
    lastBatch = batch;
    let now = 0;
    for (const delivery of batch) {
      const time = delivery.time;
      if (time == null || observed.has(delivery)) continue;
      observed.add(delivery);
      now ||= Date.now();
      const lagMs = now - Date.parse(time);
      if (Number.isFinite(lagMs)) lag.observe(Math.max(0, lagMs) / 1000); // a producer clock ahead of ours counts as 0
    }
  };

  return {
    registry,
    written,
    timeFanOut: (fanOut) => (batch) => {
      if (source.clients() === 0) return fanOut(batch);
      const started = performance.now();
      fanOut(batch);
      fanout.observe((performance.now() - started) / 1000);
    },
    close() {
      for (const [name, metric] of all) if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name);
    },
  };
}
