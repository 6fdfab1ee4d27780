import { Counter, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { envelopeDelivery, redisDownDelivery, type Delivery } from '../../../../src/server/fanout/delivery.js';
import { SystemStreamError } from '../../../../src/shared/errors.js';
import {
  createStreamMetrics,
  FANOUT_BUCKETS_S,
  LAG_BUCKETS_S,
  loadPromClient,
  type MetricsSource,
} from '../../../../src/server/http/metrics.js';
import { createCounters, createLabelledCounters } from '../../../../src/server/stats.js';
import { metric } from '../../../helpers/fixtures.js';
import { parseExposition } from '../../../helpers/prometheus.js';

const NOW = Date.parse('2026-01-17T04:30:00.000Z');

function fakeSource(): MetricsSource & { clientCount: number; redisUp: boolean } {
  const source = {
    counters: createCounters(),
    labelled: createLabelledCounters(),
    clientCount: 0,
    redisUp: true,
    clients: () => source.clientCount,
    isRedisUp: () => source.redisUp,
  };
  return source;
}

/** A live delivery of a metric whose `time` is `agoMs` before NOW. */
const sample = (agoMs: number, source = 'host'): Delivery =>
  envelopeDelivery(metric('cpu', 1, source, new Date(NOW - agoMs).toISOString()), `system_metric:cpu:${source}`);

const scrape = async (registry: { metrics(): Promise<string> }) => parseExposition(await registry.metrics());

const EXPORTED = [
  'system_stream_clients',
  'system_stream_handshakes_total',
  'system_stream_redis_messages_total',
  'system_stream_envelopes_total',
  'system_stream_invalid_messages_total',
  'system_stream_throttled_total',
  'system_stream_conflated_total',
  'system_stream_deliveries_total',
  'system_stream_frame_bytes_total',
  'system_stream_written_bytes_total',
  'system_stream_slow_clients_closed_total',
  'system_stream_dead_clients_terminated_total',
  'system_stream_redis_up',
  'system_stream_redis_reconnects_total',
  'system_stream_delivery_lag_seconds',
  'system_stream_fanout_seconds',
];

describe('createStreamMetrics', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('registers every metric, named by the Prometheus conventions, with low-cardinality labels only', async () => {
    const metrics = createStreamMetrics(true, fakeSource());
    const families = await (metrics.registry as Registry).getMetricsAsJSON();
    expect(families.map((f) => f.name)).toEqual(EXPORTED);
    for (const family of families) {
      expect(family.name).toMatch(/^system_stream_[a-z_]+$/);
      if (String(family.type) === 'counter') expect(family.name).toMatch(/_total$/);
      else expect(family.name).not.toMatch(/_total$/);
      if (String(family.type) === 'histogram') expect(family.name).toMatch(/_seconds$/);
      expect(family.help.length).toBeGreaterThan(10);
    }
    const labelNames = new Set(families.flatMap((f) => f.values.flatMap((v) => Object.keys(v.labels))));
    expect([...labelNames].sort()).toEqual(['le', 'outcome', 'reason', 'type']);
  });

  it('reads the stream’s counters at scrape time, every label value from 0', async () => {
    const source = fakeSource();
    const metrics = createStreamMetrics(true, source);
    const before = await scrape(metrics.registry);
    for (const outcome of ['accepted', 'unauthorized', 'forbidden', 'bad_request', 'full', 'timeout', 'busy', 'error']) {
      expect(before.value('system_stream_handshakes_total', { outcome })).toBe(0);
    }
    for (const type of ['system_metric', 'container_status', 'alert'])
      expect(before.value('system_stream_envelopes_total', { type })).toBe(0);
    for (const reason of ['too_large', 'not_json', 'bad_batch', 'schema'])
      expect(before.value('system_stream_invalid_messages_total', { reason })).toBe(0);

    Object.assign(source.counters, {
      received: 7,
      throttled: 2,
      conflated: 3,
      delivered: 40,
      slowClientsClosed: 1,
      deadClientsTerminated: 4,
    });
    source.labelled.handshakes.accepted = 5;
    source.labelled.handshakes.unauthorized = 2;
    source.labelled.envelopes.alert = 6;
    source.labelled.invalid.schema = 1;
    source.labelled.redisReconnects = 1;
    source.clientCount = 3;
    source.redisUp = false;
    const after = await scrape(metrics.registry);
    expect(after.value('system_stream_clients')).toBe(3);
    expect(after.value('system_stream_redis_up')).toBe(0);
    expect(after.value('system_stream_redis_messages_total')).toBe(7);
    expect(after.value('system_stream_throttled_total')).toBe(2);
    expect(after.value('system_stream_conflated_total')).toBe(3);
    expect(after.value('system_stream_deliveries_total')).toBe(40);
    expect(after.value('system_stream_slow_clients_closed_total')).toBe(1);
    expect(after.value('system_stream_dead_clients_terminated_total')).toBe(4);
    expect(after.value('system_stream_redis_reconnects_total')).toBe(1);
    expect(after.value('system_stream_handshakes_total', { outcome: 'accepted' })).toBe(5);
    expect(after.value('system_stream_handshakes_total', { outcome: 'unauthorized' })).toBe(2);
    expect(after.value('system_stream_envelopes_total', { type: 'alert' })).toBe(6);
    expect(after.value('system_stream_invalid_messages_total', { reason: 'schema' })).toBe(1);
    source.redisUp = true;
    expect((await scrape(metrics.registry)).value('system_stream_redis_up')).toBe(1);
  });

  it('has delivery-lag buckets from 1 ms to 1 s and fan-out buckets from 100 µs to 1 s', async () => {
    const metrics = createStreamMetrics(true, fakeSource());
    const text = await scrape(metrics.registry);
    const bounds = (name: string) =>
      text.samples.filter((s) => s.name === `${name}_bucket`).map((s) => (s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le'])));
    expect(bounds('system_stream_delivery_lag_seconds')).toEqual([...LAG_BUCKETS_S, Infinity]);
    expect(bounds('system_stream_fanout_seconds')).toEqual([...FANOUT_BUCKETS_S, Infinity]);
    expect(LAG_BUCKETS_S[0]).toBe(0.001);
    expect(LAG_BUCKETS_S.at(-1)).toBe(1);
  });

  describe('delivery lag', () => {
    it('observes each envelope once, at its first write, however many clients the batch is written to', async () => {
      const metrics = createStreamMetrics(true, fakeSource());
      const batch = [sample(3, 'a'), sample(40, 'b'), redisDownDelivery()];
      for (let client = 0; client < 1000; client++) metrics.written(batch);
      const text = await scrape(metrics.registry);
      expect(text.value('system_stream_delivery_lag_seconds_count')).toBe(2); // the control packet has no time
      expect(text.value('system_stream_delivery_lag_seconds_sum')).toBeCloseTo(0.043, 6);
      expect(text.value('system_stream_delivery_lag_seconds_bucket', { le: '0.002' })).toBe(0);
      expect(text.value('system_stream_delivery_lag_seconds_bucket', { le: '0.005' })).toBe(1);
      expect(text.value('system_stream_delivery_lag_seconds_bucket', { le: '0.05' })).toBe(2);
    });

    it('does not observe again what a filtered copy or a late release of the batch carries, but does observe what only they carried', async () => {
      const metrics = createStreamMetrics(true, fakeSource());
      const [a, b, c] = [sample(1, 'a'), sample(2, 'b'), sample(3, 'c')] as [Delivery, Delivery, Delivery];
      metrics.written([a, b]); // a client that may see a and b only
      metrics.written([a, b, c]); // the shared batch
      metrics.written([c]); // a client that was behind, later
      metrics.written([b, c]);
      vi.setSystemTime(NOW + 10_000);
      const d = sample(-10_000 + 5, 'd'); // 5 ms before the new now
      metrics.written([c, d]); // a release after 10 s: only d is new
      const text = await scrape(metrics.registry);
      expect(text.value('system_stream_delivery_lag_seconds_count')).toBe(4);
      expect(text.value('system_stream_delivery_lag_seconds_sum')).toBeCloseTo(0.011, 6);
    });

    it('counts a time ahead of this clock (a producer whose clock runs fast) as 0', async () => {
      const metrics = createStreamMetrics(true, fakeSource());
      metrics.written([sample(-250)]);
      const text = await scrape(metrics.registry);
      expect(text.value('system_stream_delivery_lag_seconds_count')).toBe(1);
      expect(text.value('system_stream_delivery_lag_seconds_sum')).toBe(0);
    });
  });

  describe('fan-out', () => {
    it('observes each batch once while clients are connected, and nothing without clients', async () => {
      const source = fakeSource();
      const metrics = createStreamMetrics(true, source);
      const fannedOut: (readonly Delivery[])[] = [];
      const fanOut = metrics.timeFanOut((batch) => fannedOut.push(batch));
      fanOut([sample(1)]);
      source.clientCount = 2;
      fanOut([sample(1)]);
      fanOut([sample(1)]);
      expect(fannedOut).toHaveLength(3);
      const text = await scrape(metrics.registry);
      expect(text.value('system_stream_fanout_seconds_count')).toBe(2);
    });
  });

  describe('with a host registry', () => {
    it('registers beside the host’s metrics, and close() removes only its own', async () => {
      const registry = new Registry();
      new Counter({ name: 'host_requests_total', help: 'the host’s own', registers: [registry] }).inc(3);
      const metrics = createStreamMetrics(registry, fakeSource());
      expect(metrics.registry).toBe(registry);
      const text = await scrape(registry);
      expect(text.value('host_requests_total')).toBe(3);
      expect(text.value('system_stream_clients')).toBe(0);
      metrics.close();
      expect((await registry.getMetricsAsJSON()).map((m) => m.name)).toEqual(['host_requests_total']);
      // Registered again once the first stream has closed.
      createStreamMetrics(registry, fakeSource()).close();
    });

    it('refuses a registry that already holds the stream’s names, naming them, and registers nothing', async () => {
      const registry = new Registry();
      const first = createStreamMetrics(registry, fakeSource());
      const host = new Registry();
      new Counter({ name: 'system_stream_deliveries_total', help: 'a clash', registers: [host] });
      for (const target of [registry, host]) {
        const before = (await target.getMetricsAsJSON()).length;
        let error: unknown;
        try {
          createStreamMetrics(target, fakeSource());
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(SystemStreamError);
        expect((error as SystemStreamError).code).toBe('SST_ERR_INVALID_OPTION');
        expect((error as Error).message).toMatch(
          /^The `metrics` registry already holds .*system_stream_deliveries_total.*: is another stream registered in it\?/,
        );
        expect((await target.getMetricsAsJSON()).length).toBe(before);
      }
      first.close();
    });
  });
});

describe('loadPromClient', () => {
  it('loads the installed prom-client', () => {
    expect(typeof loadPromClient().Registry).toBe('function');
  });

  it('throws SST_ERR_INVALID_OPTION saying how to install it when prom-client is missing', () => {
    const missing = Object.assign(new Error("Cannot find module 'prom-client'"), { code: 'MODULE_NOT_FOUND' });
    let error: unknown;
    try {
      loadPromClient(() => {
        throw missing;
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SystemStreamError);
    expect((error as SystemStreamError).code).toBe('SST_ERR_INVALID_OPTION');
    expect((error as Error).message).toBe(
      'The `metrics` option needs prom-client, an optional peer dependency that is not installed: run `npm install prom-client@^15.1.0`',
    );
    expect((error as Error).cause).toBe(missing);
  });

  it('refuses something that is not prom-client 15', () => {
    expect(() => loadPromClient(() => ({ register: {} }))).toThrow(/needs prom-client 15/);
  });
});
