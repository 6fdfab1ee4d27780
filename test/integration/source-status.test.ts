// Producers that go silent: a real server on the in-process bus (the staleness logic does not depend on
// Redis), real ws clients whose every frame is checked against asyncapi.yaml, real timers with a short floor.
import { afterEach, describe, expect, it } from 'vitest';
import { createInProcessBus, type InProcessBus } from '../../src/redis/in-process-bus.js';
import type { ServerPacket, SourceStatusPacket } from '../../src/protocol/wire.js';
import { metric } from '../helpers/fixtures.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { SystemStreamOptions } from '../../src/server/options.js';
import { connectOpen, type ConnectOptions, type TestClient } from '../helpers/ws-client.js';

const INTERVAL_MS = 100;
const disposers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const dispose of disposers.splice(0).reverse()) await dispose();
});

async function start(options: Omit<SystemStreamOptions, 'redis'> = { apiKeys: ['k'] }): Promise<{ server: TestServer; bus: InProcessBus }> {
  const bus = createInProcessBus();
  const server = await startServer({ redis: bus, staleFloorMs: 300, ...options });
  disposers.push(() => server.close());
  await server.stream.ready;
  return { server, bus };
}

async function client(server: TestServer, query = 'api_key=k', options?: ConnectOptions): Promise<TestClient> {
  const c = await connectOpen(server.wsUrl(query), options);
  disposers.push(() => c.close());
  return c;
}

/** Publishes cpu and disk for `host` every INTERVAL_MS, `times` times. */
async function publish(bus: InProcessBus, host: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await bus.publish('system:metrics', JSON.stringify([metric('cpu', 10, host), metric('disk', 20, `${host}:/`)]));
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
}

const isStatus = (source: string, status: string) => (p: ServerPacket) =>
  p.type === 'source_status' && p.data.source === source && p.data.status === status;

describe('source_status', () => {
  it('tells every client when a producer stops and when it publishes again', async () => {
    const { server, bus } = await start();
    const [a, b] = [await client(server), await client(server)];
    await publish(bus, 'web-1', 4);
    await publish(bus, 'web-2', 1); // seen in one publication only: never reported
    const stoppedAt = Date.now();

    const stale = await a.waitFor<SourceStatusPacket>(isStatus('web-1', 'stale'), 2000);
    // 3 × 100 ms, at least the 300 ms floor, checked every 75 ms; the last publication was 100 ms before stoppedAt.
    expect(Date.now() - stoppedAt).toBeLessThan(1000);
    expect(Date.parse(stale.data.last_seen)).toBeLessThanOrEqual(stoppedAt);
    await b.waitFor(isStatus('web-1', 'stale'));
    await a.waitFor(isStatus('web-1:/', 'stale'));

    await bus.publish('system:metrics', JSON.stringify(metric('cpu', 11, 'web-1')));
    await Promise.all([a, b].map((c) => c.waitFor(isStatus('web-1', 'live'))));
    expect(
      a.packets.filter((p) => p.type === 'source_status').map((p) => p.type === 'source_status' && `${p.data.source} ${p.data.status}`),
    ).toEqual(expect.arrayContaining(['web-1 stale', 'web-1:/ stale', 'web-1 live']));
    expect(a.packets.some((p) => p.type === 'source_status' && p.data.source === 'web-2')).toBe(false);
  });

  it('is part of a new client’s snapshot: one packet per stale source, before snapshot_end', async () => {
    const { server, bus } = await start();
    const watcher = await client(server);
    await publish(bus, 'web-1', 4);
    await watcher.waitFor(isStatus('web-1:/', 'stale'), 2000);
    await watcher.waitFor(isStatus('web-1', 'stale'), 2000);

    const late = await client(server);
    const types = late.packets.map((p) => (p.type === 'source_status' ? `${p.type} ${p.data.source}` : p.type));
    expect(types).toEqual([
      'system_metric',
      'system_metric',
      expect.stringMatching(/^source_status /),
      expect.stringMatching(/^source_status /),
      'snapshot_end',
    ]);
    expect(types.slice(2, 4).sort()).toEqual(['source_status web-1', 'source_status web-1:/']);
    expect(late.packets.at(-1)).toEqual({ type: 'snapshot_end', data: { count: 2 } }); // envelopes only

    await publish(bus, 'web-1', 1);
    await late.waitFor(isStatus('web-1', 'live'));
    const fresh = await client(server);
    await fresh.waitFor((p) => p.type === 'snapshot_end');
    expect(fresh.packets.filter((p) => p.type === 'source_status')).toEqual([]);
  });

  describe('narrowed clients', () => {
    /** Each tenant's key grants its own host; a third key grants alerts only. */
    const tenants = (): Omit<SystemStreamOptions, 'redis'> => ({
      authenticate: (req) => {
        const tenant = req.headers['x-tenant'];
        if (tenant === 'a') return { types: ['system_metric', 'container_status', 'alert'], sources: ['tenant-a'] };
        if (tenant === 'b') return { types: ['system_metric', 'container_status', 'alert'], sources: ['tenant-b'] };
        if (tenant === 'alerts') return { types: ['alert'] };
        return tenant === 'admin';
      },
    });
    const as = (tenant: string): ConnectOptions => ({ headers: { 'x-tenant': tenant } });
    const statusSources = (c: TestClient, upTo = c.packets.length): string[] =>
      c.packets
        .slice(0, upTo)
        .filter((p): p is SourceStatusPacket => p.type === 'source_status')
        .map((p) => `${p.data.source} ${p.data.status}`);
    const beforeEnd = (c: TestClient): number => c.packets.findIndex((p) => p.type === 'snapshot_end');

    it('sends a tenant only its own sources’ status, live, in the snapshot and in a backfill', async () => {
      const { server, bus } = await start(tenants());
      const admin = await client(server, '', as('admin'));
      const a = await client(server, '', as('a'));
      const b = await client(server, '', as('b'));
      const aByQuery = await client(server, 'source=tenant-a', as('admin'));
      const alertsOnly = await client(server, '', as('alerts'));
      await Promise.all([publish(bus, 'tenant-a', 4), publish(bus, 'tenant-b', 4)]);
      await admin.waitFor(isStatus('tenant-a', 'stale'), 2000);
      await admin.waitFor(isStatus('tenant-b', 'stale'), 2000);
      await admin.waitFor(isStatus('tenant-b:/', 'stale'), 2000);
      await a.waitFor(isStatus('tenant-a:/', 'stale'), 2000);
      await b.waitFor(isStatus('tenant-b:/', 'stale'), 2000);
      await aByQuery.waitFor(isStatus('tenant-a:/', 'stale'), 2000);

      // Live.
      expect(statusSources(a).sort()).toEqual(['tenant-a stale', 'tenant-a:/ stale']);
      expect(statusSources(b).sort()).toEqual(['tenant-b stale', 'tenant-b:/ stale']);
      expect(statusSources(aByQuery).sort()).toEqual(['tenant-a stale', 'tenant-a:/ stale']);
      expect(statusSources(alertsOnly)).toEqual([]);
      expect(statusSources(admin)).toHaveLength(4);

      // In a new client's snapshot, and in a backfill (`?since=`): only the sources it may see, before snapshot_end.
      for (const query of ['', 'since=0']) {
        const lateA = await client(server, query, as('a'));
        expect(statusSources(lateA, beforeEnd(lateA)).sort()).toEqual(['tenant-a stale', 'tenant-a:/ stale']);
        const lateB = await client(server, `source=tenant-b:/${query ? `&${query}` : ''}`, as('b'));
        expect(statusSources(lateB, beforeEnd(lateB))).toEqual(['tenant-b:/ stale']);
        const lateAlerts = await client(server, query, as('alerts'));
        expect(statusSources(lateAlerts)).toEqual([]);
        const lateAdmin = await client(server, query, as('admin'));
        expect(statusSources(lateAdmin, beforeEnd(lateAdmin))).toHaveLength(4);
        const outside = await client(server, `source=tenant-b${query ? `&${query}` : ''}`, as('a'));
        expect(outside.packets.map((p) => p.type)).toEqual(['snapshot_end']);
      }

      // Live again: each tenant hears only of its own recovery.
      await bus.publish('system:metrics', JSON.stringify(metric('cpu', 1, 'tenant-b')));
      await b.waitFor(isStatus('tenant-b', 'live'));
      await admin.waitFor(isStatus('tenant-b', 'live'));
      await bus.publish('system:metrics', JSON.stringify(metric('cpu', 1, 'tenant-a')));
      await a.waitFor(isStatus('tenant-a', 'live'));
      expect(statusSources(a).filter((s) => s.startsWith('tenant-b'))).toEqual([]);
      expect(statusSources(b).filter((s) => s.startsWith('tenant-a'))).toEqual([]);
      expect(statusSources(alertsOnly)).toEqual([]);
    });
  });
});
