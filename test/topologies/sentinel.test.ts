// The stream and the publisher through Redis Sentinel: a host's ioredis client in Sentinel mode
// (`sentinels`, `name`), a primary + replica + 3 real Sentinels (quorum 2, down-after-milliseconds 1000,
// failover-timeout 5000). Kill -9 the primary: the stream follows the promotion by itself, within 3 s.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SystemStreamError } from '../../src/shared/errors.js';
import { createSystemPublisher } from '../../src/publisher/publisher.js';
import { failOnProcessCrash } from '../helpers/crash-guard.js';
import { createDisposers } from '../helpers/disposers.js';
import { metric } from '../helpers/fixtures.js';
import { startSentinels, type TestSentinels } from '../helpers/redis-sentinel.js';
import { startReadyServer, type startServer, type TestServer } from '../helpers/server.js';
import { connect, connectOpen, is200, is503 } from '../helpers/ws-client.js';

let sentinels: TestSentinels;
const disposers = createDisposers();
beforeAll(async () => {
  sentinels = await startSentinels();
  console.info(`sentinels ready: ${JSON.stringify(sentinels.timings)}`);
});
afterEach(() => disposers.runAll());
afterAll(async () => {
  await sentinels?.stop();
});
failOnProcessCrash();

const serve = (options: Parameters<typeof startServer>[0]): Promise<TestServer> => startReadyServer(disposers, options);

describe('Redis Sentinel', () => {
  it('stream and publisher work through a Sentinel-mode host client', async () => {
    const channel = `sentinel:${randomUUID()}`;
    const s = await serve({ redis: sentinels.client(), channel });
    const c = await connectOpen(s.wsUrl());
    disposers.add(() => c.close());
    const publisher = createSystemPublisher({ redis: sentinels.client(), channel });
    disposers.add(() => publisher.close());
    await publisher.ready;
    expect(await publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' })).toBe(1);
    await c.waitFor((p) => p.type === 'system_metric' && p.data.value === 1, 2000);
    // The subscriber is on the primary the Sentinels name.
    const primary = await sentinels.primary();
    expect(primary).toBe(sentinels.servers[0]);
  });

  it('follows a primary failover by itself: 503, then 200 and live data within 3 s of the kill', async () => {
    const channel = `sentinel:${randomUUID()}`;
    const s = await serve({ redis: sentinels.client(), channel });
    const c = connect(s.wsUrl());
    disposers.add(() => c.close());
    await c.waitFor((p) => p.type === 'snapshot_end');
    const arrivals: number[] = [];
    c.ws.on('message', (data) => {
      if (data.toString().startsWith('{"type":"system_metric"')) arrivals.push(performance.now());
    });

    // A producer that retries quickly (every 20 ms), so that the gap measured is the stream's own.
    const producer = sentinels.client({ retryStrategy: () => 20, maxRetriesPerRequest: 0 });
    // The package's publisher on a host client, publishing alongside: it fails fast during the failover.
    const publisher = createSystemPublisher({ redis: sentinels.client({ retryStrategy: () => 100 }), channel, publishTimeoutMs: 500 });
    disposers.add(() => publisher.close());
    await publisher.ready;
    const outcomes: { ok: boolean; code?: string; ms: number }[] = [];
    let seq = 0;
    const timer = setInterval(() => {
      seq++;
      producer.publish(channel, JSON.stringify(metric('load', seq))).catch(() => 0);
      const started = performance.now();
      publisher.publishMetric({ metric_type: 'pub', value: seq, source: 'host' }).then(
        () => void outcomes.push({ ok: true, ms: performance.now() - started }),
        (err: SystemStreamError) => void outcomes.push({ ok: false, code: err.code, ms: performance.now() - started }),
      );
    }, 20);
    disposers.add(() => clearInterval(timer));
    await c.waitFor((p) => p.type === 'system_metric', 3000);

    const old = await sentinels.primary();
    const killedAt = performance.now();
    await old.kill('SIGKILL');
    await c.waitFor(is503, 1000);
    const noticedMs = performance.now() - killedAt;
    const promoted = await sentinels.waitForNewPrimary(old.port);
    const switchedMs = performance.now() - killedAt;
    await c.waitFor(is200, 5000);
    const restoredMs = performance.now() - killedAt;
    const from = c.packets.findIndex(is200);
    await c.waitFor((p) => p.type === 'system_metric' && p.data.metric_type === 'load', 3000, from);
    const firstDataMs = performance.now() - killedAt;
    await new Promise((resolve) => setTimeout(resolve, 300));
    clearInterval(timer);

    // The longest time without a message for the client, across the failover.
    let gapMs = 0;
    for (let i = 1; i < arrivals.length; i++) gapMs = Math.max(gapMs, arrivals[i]! - arrivals[i - 1]!);
    expect(promoted).toBe(sentinels.servers[1]);
    expect(gapMs).toBeLessThanOrEqual(3000);
    expect(s.stream.stats().redis).toBe('up');
    expect([c.packets.filter(is503).length, c.packets.filter(is200).length]).toEqual([1, 1]);
    // The publisher failed fast while there was no primary, and publishes again on the new one.
    const failures = outcomes.filter((o) => !o.ok);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((f) => f.code === 'SST_ERR_REDIS_UNAVAILABLE')).toBe(true);
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(1000);
    expect(await publisher.publishMetric({ metric_type: 'pub', value: -1, source: 'host' })).toBe(1);
    console.info(
      `sentinel failover: 503 after ${noticedMs.toFixed(0)} ms, +switch-master seen after ${switchedMs.toFixed(0)} ms, 200 after ${restoredMs.toFixed(0)} ms, ` +
        `first data after ${firstDataMs.toFixed(0)} ms, longest gap ${gapMs.toFixed(0)} ms; publisher: ${failures.length} of ${outcomes.length} failed`,
    );
  });
});
