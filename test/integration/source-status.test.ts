// Producers that go silent: a real server on the in-process bus (the staleness logic does not depend on
// Redis), real ws clients whose every frame is checked against asyncapi.yaml, real timers with a short floor.
import { afterEach, describe, expect, it } from 'vitest';
import { createInProcessBus, type InProcessBus } from '../../src/redis/in-process-bus.js';
import type { ServerPacket, SourceStatusPacket } from '../../src/protocol/wire.js';
import { metric } from '../helpers/fixtures.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connectOpen, type TestClient } from '../helpers/ws-client.js';

const INTERVAL_MS = 100;
const disposers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const dispose of disposers.splice(0).reverse()) await dispose();
});

async function start(): Promise<{ server: TestServer; bus: InProcessBus }> {
  const bus = createInProcessBus();
  const server = await startServer({ redis: bus, apiKeys: ['k'], staleFloorMs: 300 });
  disposers.push(() => server.close());
  await server.stream.ready;
  return { server, bus };
}

async function client(server: TestServer): Promise<TestClient> {
  const c = await connectOpen(server.wsUrl('api_key=k'));
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
});
