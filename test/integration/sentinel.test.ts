import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AlertMessage, ServerPacket, SystemMetricMessage } from '../../src/protocol/wire.js';
import { createSystemPublisher } from '../../src/publisher/publisher.js';
import type { SystemSample } from '../../src/sentinel/sample.js';
import { startSentinel } from '../../src/sentinel/sentinel.js';
import { metric } from '../helpers/fixtures.js';
import { freePort, type TestRedis } from '../helpers/redis.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import type { TestServer } from '../helpers/server.js';
import { connectOpen, type TestClient, snapshotEnvelopes } from '../helpers/ws-client.js';

const HOST = hostname();

// The real sentinel, with the real systeminformation sampler, publishing to a real Redis; its batches
// travel through attachSystemStream to a real WebSocket client.

// One private redis-server per file; each test gets its own channel, server and client, disposed after it.
const fx = useStreamFixtures();
let redis: TestRedis;
let server: TestServer;
let client: TestClient;
let channel: string;

beforeEach(async () => {
  redis = fx.redis();
  const started = await fx.server();
  server = started;
  channel = started.channel;
  client = fx.track(await connectOpen(server.wsUrl('api_key=k')));
});

const isMetric =
  (metric_type: string, source?: string) =>
  (p: ServerPacket): boolean =>
    p.type === 'system_metric' && p.data.metric_type === metric_type && (source === undefined || p.data.source === source);

describe('startSentinel with the real sampler, through attachSystemStream', () => {
  it("delivers the host's metrics to a WebSocket client, batch after batch", async () => {
    const warnings: string[] = [];
    const noop = (): void => {};
    const sentinel = startSentinel({
      redis: redis.url,
      channel,
      intervalMs: 500,
      logger: { debug: noop, info: noop, error: noop, warn: (_obj, msg) => void warnings.push(msg ?? '') },
    });
    fx.defer(() => sentinel.stop());

    const cpu = await client.waitFor<SystemMetricMessage>(isMetric('cpu', HOST), 10_000);
    expect(cpu.data.value).toBeGreaterThanOrEqual(0);
    expect(cpu.data.value).toBeLessThanOrEqual(100);
    expect(cpu.data.meta).toEqual({ unit: 'percent', host: HOST });
    const memory = await client.waitFor<SystemMetricMessage>(isMetric('memory', HOST));
    expect(memory.data.value).toBeGreaterThan(0);
    expect(memory.data.value).toBeLessThan(100);
    await client.waitFor(isMetric('load', HOST));
    const root = await client.waitFor<SystemMetricMessage>(isMetric('disk', `${HOST}:/`));
    expect(root.data.meta).toMatchObject({ unit: 'percent', host: HOST, mount: '/' });

    // Network rates need two samples: they arrive with the second batch, and so does a newer cpu value.
    const net = await client.waitFor<SystemMetricMessage>(isMetric('net_rx'), 10_000);
    expect(Number.isInteger(net.data.value)).toBe(true);
    const from = client.packets.length;
    const nextCpu = await client.waitFor<SystemMetricMessage>(isMetric('cpu', HOST), 10_000, from);
    expect(Date.parse(nextCpu.data.time)).toBeGreaterThan(Date.parse(cpu.data.time));

    // This machine has no Docker daemon: one warning, and host metrics regardless.
    if (warnings.some((w) => /Docker/.test(w))) expect(warnings.filter((w) => /Docker/.test(w))).toHaveLength(1);
    expect(server.stream.stats()).toMatchObject({ invalid: 0 });
  });

  it('raises an alert at the crossing that reaches the client at once', async () => {
    // A warning line at 0 % is crossed by the first sample of any host. CPU is off: on a busy test
    // machine it may cross its own default line.
    const sentinel = startSentinel({
      redis: redis.url,
      channel,
      intervalMs: 500,
      thresholds: { memory: { warning: 0, critical: 100 }, cpu: false },
    });
    fx.defer(() => sentinel.stop());
    const raised = await client.waitFor<AlertMessage>((p) => p.type === 'alert', 10_000);
    expect(raised.data).toMatchObject({ level: 'warning', metric_type: 'memory', source: HOST, threshold: 0 });
    expect(raised.data.message).toMatch(new RegExp(`^memory on ${HOST.replace(/[.]/g, '\\.')} at [\\d.]+ % \\(warning threshold 0 %\\)$`));
    // Only once: the next batch carries memory again but no second alert.
    const from = client.packets.length;
    await client.waitFor(isMetric('memory', HOST), 10_000, from);
    await client.waitFor(isMetric('memory', HOST), 10_000, client.packets.length);
    expect(client.packets.filter((p) => p.type === 'alert' && p.data.metric_type === 'memory')).toHaveLength(1);
  });

  it('two sentinels on one channel, named web-1 and web-2: both hosts reach the client, every series apart', async () => {
    const web1 = startSentinel({ redis: redis.url, channel, intervalMs: 500, source: 'web-1' });
    fx.defer(() => web1.stop());
    const web2 = startSentinel({ redis: redis.url, channel, intervalMs: 500, source: 'web-2' });
    fx.defer(() => web2.stop());
    for (const host of ['web-1', 'web-2']) {
      await client.waitFor(isMetric('cpu', host), 10_000);
      await client.waitFor(isMetric('disk', `${host}:/`), 10_000);
      // The second batch: network rates need two samples.
      await client.waitFor(
        (p) => p.type === 'system_metric' && p.data.metric_type === 'net_rx' && p.data.source.startsWith(`${host}:`),
        10_000,
      );
    }

    // The snapshot (what the next client receives first) keeps both hosts' series, none overwritten.
    const sources = (host: string): string[] =>
      server.stream
        .snapshot()
        .flatMap((e) => (e.type === 'system_metric' && e.data.meta?.['host'] === host ? [`${e.data.metric_type}|${e.data.source}`] : []))
        .sort();
    const one = sources('web-1');
    const two = sources('web-2');
    expect(one).toEqual(expect.arrayContaining(['cpu|web-1', 'memory|web-1', 'load|web-1', 'disk|web-1:/']));
    expect(two).toEqual(one.map((s) => s.replace(/\|web-1/, '|web-2')));
    expect(one.some((s) => s.startsWith('net_rx|web-1:'))).toBe(true);
    const next = fx.track(await connectOpen(server.wsUrl('api_key=k')));
    expect(
      snapshotEnvelopes(next)
        .filter((e) => e.type === 'system_metric' && e.data.metric_type === 'cpu')
        .map((e) => (e.data as { source: string }).source)
        .sort(),
    ).toEqual(['web-1', 'web-2']);
  });

  it('a stream started after an alert was raised shows it within one re-announce period, in its snapshot too', async () => {
    const sample = JSON.parse(readFileSync(new URL('../fixtures/si/steady-sample.json', import.meta.url), 'utf8')) as SystemSample;
    const sentinel = startSentinel({
      redis: redis.url,
      channel,
      source: 'web-1',
      intervalMs: 200,
      containerReannounceMs: 1000,
      thresholds: { cpu: { warning: 0, critical: 100 }, memory: false, disk: false },
      sampler: async () => ({ ...sample, time: new Date().toISOString() }),
    });
    fx.defer(() => sentinel.stop());
    const raised = await client.waitFor<AlertMessage>((p) => p.type === 'alert', 5000);

    // The app restarts: a new stream on the same channel, which never saw the crossing.
    const restarted = await fx.server({ channel });
    const startedAt = Date.now();
    const late = fx.track(await connectOpen(restarted.wsUrl('api_key=k')));
    const again = await late.waitFor<AlertMessage>((p) => p.type === 'alert', 3000);
    expect(Date.now() - startedAt).toBeLessThan(1000 + 500);
    expect(again.data).toEqual(raised.data); // as first sent: its time says since when
    const fresh = fx.track(await connectOpen(restarted.wsUrl('api_key=k')));
    expect(snapshotEnvelopes(fresh).filter((e) => e.type === 'alert')).toEqual([{ type: 'alert', data: raised.data }]);
  });

  it('publishes nothing sampled after stop()', async () => {
    const sentinel = startSentinel({ redis: redis.url, channel, intervalMs: 200 });
    await client.waitFor(isMetric('cpu', HOST), 10_000);
    const stopCalledAt = Date.now();
    await sentinel.stop();
    // A marker published after stop() has resolved: Redis keeps order, so anything the sentinel published
    // before it arrives first; a sentinel still ticking would send samples timed after stopCalledAt.
    const publisher = createSystemPublisher({ redis: redis.url, channel });
    fx.defer(() => publisher.close());
    await publisher.publish(metric('marker', 1));
    await client.waitFor(isMetric('marker'), 5000);
    const late = client.packets.filter(
      (p) => p.type === 'system_metric' && p.data.metric_type !== 'marker' && Date.parse(p.data.time) >= stopCalledAt,
    );
    expect(late).toEqual([]);
  });

  it('stops at once while a publish waits for a Redis that is down', async () => {
    const sample = JSON.parse(readFileSync(new URL('../fixtures/si/steady-sample.json', import.meta.url), 'utf8')) as SystemSample;
    let sampled!: () => void;
    const firstSample = new Promise<void>((resolve) => (sampled = resolve));
    const sentinel = startSentinel({
      redis: `redis://127.0.0.1:${await freePort()}`,
      sampler: async () => {
        sampled();
        return sample;
      },
    });
    await firstSample; // the first batch now waits (up to 2 s) for a connection that cannot come
    const started = Date.now();
    await sentinel.stop();
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
