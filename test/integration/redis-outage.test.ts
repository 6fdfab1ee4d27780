import { Redis } from 'ioredis';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { ErrorPacket } from '../../src/protocol/wire.js';
import { metric } from '../helpers/fixtures.js';
import { deliverEventually } from '../helpers/deliver-eventually.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { heapAfterGc } from '../helpers/heap.js';
import { recordingLogger } from '../helpers/logger.js';
import { connectOpen, is200, is503 } from '../helpers/ws-client.js';

describe('Redis outage', () => {
  const fx = useStreamFixtures();

  it('sends 503 to every client within 1 s of a SIGKILL, keeps them open, and recovers with a 200 by itself', async () => {
    const logger = recordingLogger();
    const s = await fx.server({ logger, throttleMs: 0 });
    const clients = [fx.track(await connectOpen(s.wsUrl('api_key=k'))), fx.track(await connectOpen(s.wsUrl('api_key=k')))];

    const killedAt = performance.now();
    await fx.redis().kill('SIGKILL');
    const packets = await Promise.all(clients.map((c) => c.waitFor<ErrorPacket>(is503, 1000)));
    expect(performance.now() - killedAt).toBeLessThan(1000);
    expect(packets[0]?.data).toEqual({ code: 503, message: 'Service Unavailable', reason: 'redis_unavailable', time: expect.any(String) });

    // Still open during the outage; a new client gets its snapshot, then the 503.
    for (const c of clients) expect(c.ws.readyState).toBe(c.ws.OPEN);
    const late = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    await late.waitFor(is503, 1000);
    expect(late.packets.map((p) => p.type)).toEqual(['snapshot_end', 'error']);
    expect(s.stream.stats().redis).toBe('down');
    // Liveness stays 200, so a probe does not restart the host or pull its API; readiness says 503.
    const liveness = await request(s.server).get('/api/system/health');
    expect([liveness.status, liveness.body]).toEqual([200, { status: 'ok', redis: 'down', clients: 3, maxClients: 100 }]);
    const readiness = await request(s.server).get('/api/system/ready');
    expect([readiness.status, readiness.body]).toEqual([503, { status: 'unavailable', redis: 'down', clients: 3, maxClients: 100 }]);

    await new Promise((r) => setTimeout(r, 1500)); // several reconnect attempts fail meanwhile
    await fx.redis().start();
    const restartedAt = performance.now();
    await Promise.all([...clients, late].map((c) => c.waitFor(is200, 2000)));
    await deliverEventually(fx.redis().publisher(), s.channel, clients[0]!, 1);
    expect(performance.now() - restartedAt).toBeLessThan(1000);
    expect(s.stream.stats().redis).toBe('up');
    expect((await request(s.server).get('/api/system/health')).status).toBe(200);
    expect((await request(s.server).get('/api/system/ready')).body).toMatchObject({ status: 'ok', redis: 'up' });

    // Logged once, not once per reconnect attempt.
    expect(logger.count('error', 'redis unavailable')).toBe(1);

    // No duplicate subscription, no duplicate delivery.
    const [, subscribers] = (await fx.redis().publisher().call('PUBSUB', 'NUMSUB', s.channel)) as [string, number];
    expect(subscribers).toBe(1);
    const before = late.packets.length;
    await fx
      .redis()
      .publisher()
      .publish(s.channel, JSON.stringify(metric('once', 7)));
    await late.waitFor((p) => p.type === 'system_metric' && p.data.value === 7, 1000, before);
    await new Promise((r) => setTimeout(r, 100));
    expect(late.packets.slice(before).filter((p) => p.type === 'system_metric')).toHaveLength(1);
  });

  it('recovers by itself with a RESP2 host client too, whose subscriber is in subscriber mode', async () => {
    const host = new Redis(fx.redis().url, { protocol: 2 });
    host.on('error', () => {});
    fx.defer(() => host.disconnect());
    const s = await fx.server({ redis: host, throttleMs: 0, redisHealthCheckMs: 100 });
    const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    await deliverEventually(fx.redis().publisher(), s.channel, c, 1);
    await fx.redis().kill('SIGKILL');
    await c.waitFor(is503, 1000);
    const mark = c.packets.length;
    await fx.redis().start();
    await c.waitFor(is200, 2000, mark);
    await deliverEventually(fx.redis().publisher(), s.channel, c, 2);
    // Health checks (PING in subscriber mode) keep passing: three more answered, no 503.
    const admin = fx.redis().publisher();
    const pings = async (): Promise<number> => Number(/cmdstat_ping:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
    const before = await pings();
    await expect.poll(pings, { timeout: 3000 }).toBeGreaterThanOrEqual(before + 3);
    expect(c.packets.slice(mark).filter(is503)).toEqual([]);
    expect(s.stream.stats().redis).toBe('up');
    const clients = String(await admin.call('CLIENT', 'LIST')).split('\n');
    expect(clients.find((line) => line.includes('name=system-stream:subscriber'))).toMatch(/ resp=2\b/);
  });

  it('detects a hung Redis (SIGSTOP) by its health ping within 3 s and recovers at SIGCONT', async () => {
    const s = await fx.server();
    const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const stoppedAt = performance.now();
    fx.redis().pause();
    try {
      await c.waitFor(is503, 3000);
      expect(performance.now() - stoppedAt).toBeLessThan(3000);
      expect(s.stream.stats().redis).toBe('down');
    } finally {
      fx.redis().resume();
    }
    await c.waitFor(is200, 3000);
    await deliverEventually(fx.redis().publisher(), s.channel, c, 2);
  });

  it('survives 10 SIGKILL/restart cycles with messages flowing after each and no growth in handles or heap', async () => {
    const s = await fx.server({ throttleMs: 0 });
    const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const pub = fx.redis().publisher();
    await deliverEventually(pub, s.channel, c, 0);
    const resources = (): number => process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'TTYWrap').length;
    const heap = heapAfterGc;
    const baselineResources = resources();
    const heaps: number[] = [];
    for (let cycle = 1; cycle <= 10; cycle++) {
      const beforeKill = c.packets.length;
      await fx.redis().kill('SIGKILL');
      await c.waitFor(is503, 1000, beforeKill);
      const mark = c.packets.length;
      await fx.redis().start();
      await c.waitFor(is200, 2000, mark);
      await deliverEventually(pub, s.channel, c, cycle);
      await expect.poll(resources, { timeout: 2000 }).toBeLessThanOrEqual(baselineResources);
      heaps.push(heap());
    }
    const [, subscribers] = (await fx.redis().publisher().call('PUBSUB', 'NUMSUB', s.channel)) as [string, number];
    expect(subscribers).toBe(1);
    // Flat: the last cycles use no more heap than the first ones plus noise (1 MB).
    const early = Math.max(...heaps.slice(0, 3));
    const late = Math.max(...heaps.slice(-3));
    expect(late - early).toBeLessThan(1024 * 1024);
  }, 60_000);
});
