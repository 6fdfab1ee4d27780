import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AlertMessage, ServerPacket, SystemMetricMessage } from '../../src/protocol.js';
import { createSystemPublisher } from '../../src/publisher.js';
import type { SystemSample } from '../../src/sentinel/sample.js';
import { startSentinel } from '../../src/sentinel/sentinel.js';
import { metric } from '../helpers/fixtures.js';
import { freePort, type TestRedis } from '../helpers/redis.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import type { TestServer } from '../helpers/server.js';
import { connectOpen, type TestClient } from '../helpers/ws-client.js';

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

    const cpu = await client.waitFor<SystemMetricMessage>(isMetric('cpu', 'host'), 10_000);
    expect(cpu.data.value).toBeGreaterThanOrEqual(0);
    expect(cpu.data.value).toBeLessThanOrEqual(100);
    expect(cpu.data.meta).toEqual({ unit: 'percent' });
    const memory = await client.waitFor<SystemMetricMessage>(isMetric('memory', 'host'));
    expect(memory.data.value).toBeGreaterThan(0);
    expect(memory.data.value).toBeLessThan(100);
    await client.waitFor(isMetric('load', 'host'));
    const root = await client.waitFor<SystemMetricMessage>(isMetric('disk', '/'));
    expect(root.data.meta).toMatchObject({ unit: 'percent' });

    // Network rates need two samples: they arrive with the second batch, and so does a newer cpu value.
    const net = await client.waitFor<SystemMetricMessage>(isMetric('net_rx'), 10_000);
    expect(Number.isInteger(net.data.value)).toBe(true);
    const from = client.packets.length;
    const nextCpu = await client.waitFor<SystemMetricMessage>(isMetric('cpu', 'host'), 10_000, from);
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
    expect(raised.data).toMatchObject({ level: 'warning', metric_type: 'memory', source: 'host', threshold: 0 });
    expect(raised.data.message).toMatch(/^memory on host at [\d.]+ % \(warning threshold 0 %\)$/);
    // Only once: the next batch carries memory again but no second alert.
    const from = client.packets.length;
    await client.waitFor(isMetric('memory', 'host'), 10_000, from);
    await client.waitFor(isMetric('memory', 'host'), 10_000, client.packets.length);
    expect(client.packets.filter((p) => p.type === 'alert' && p.data.metric_type === 'memory')).toHaveLength(1);
  });

  it('publishes nothing sampled after stop()', async () => {
    const sentinel = startSentinel({ redis: redis.url, channel, intervalMs: 200 });
    await client.waitFor(isMetric('cpu', 'host'), 10_000);
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
