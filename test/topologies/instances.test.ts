// Several API instances on one Redis, as behind a load balancer: three processes, each mounting
// attachSystemStream on the same channel, with clients spread over them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerPacket } from '../../src/protocol/wire.js';
import { runTs, type TsProcess } from '../helpers/child-process.js';
import { metric } from '../helpers/fixtures.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { connectOpen, expectRefused, type TestClient } from '../helpers/ws-client.js';

const INSTANCE = new URL('./fixtures/instance.ts', import.meta.url);
const MAX_CLIENTS = 3;

interface Instance {
  readonly process: TsProcess;
  readonly port: number;
  readonly clients: TestClient[];
  wsUrl(): string;
  health(): Promise<{ clients: number; maxClients: number; redis: string }>;
}

let redis: TestRedis;
let channel: string;
let instances: Instance[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  channel = redis.channel();
  instances = await Promise.all(
    [0, 1, 2].map(async () => {
      const proc = runTs(INSTANCE, { REDIS_URL: redis.url, CHANNEL: channel, MAX_CLIENTS: String(MAX_CLIENTS) });
      const [, port] = await proc.waitFor(/READY (\d+)/);
      const base = `127.0.0.1:${port}`;
      return {
        process: proc,
        port: Number(port),
        clients: [],
        wsUrl: () => `ws://${base}/api/system/ws?api_key=k`,
        health: async () =>
          (await fetch(`http://${base}/health`)).json() as Promise<{ clients: number; maxClients: number; redis: string }>,
      };
    }),
  );
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await Promise.all(instances.map((i) => i.process.stop('SIGKILL')));
  await redis?.stop();
});

async function open(instance: Instance): Promise<TestClient> {
  const c = await connectOpen(instance.wsUrl());
  clients.push(c);
  instance.clients.push(c);
  return c;
}

/** The values a client received live (after its snapshot). */
const values = (c: TestClient): number[] =>
  c.packets
    .slice(c.packets.findIndex((p) => p.type === 'snapshot_end') + 1)
    .flatMap((p) => (p.type === 'system_metric' ? [p.data.value] : []));
const valueIs = (value: number) => (p: ServerPacket) => p.type === 'system_metric' && p.data.value === value;

describe('several API instances on one Redis', () => {
  it('delivers every message once to every client, on whichever instance it is', async () => {
    for (const instance of instances) for (let i = 0; i < 2; i++) await open(instance);
    const pub = redis.publisher();
    // One subscription per instance, never more.
    expect(await pub.call('PUBSUB', 'NUMSUB', channel)).toEqual([channel, 3]);
    for (let value = 1; value <= 20; value++) await pub.publish(channel, JSON.stringify(metric('cpu', value, `host-${value % 4}`)));
    await Promise.all(clients.map((c) => c.waitFor(valueIs(20), 5000)));
    // A last one after all have arrived: a duplicate of any earlier one would have come before it.
    await pub.publish(channel, JSON.stringify(metric('cpu', 21)));
    await Promise.all(clients.map((c) => c.waitFor(valueIs(21), 5000)));
    const expected = Array.from({ length: 21 }, (_, i) => i + 1);
    for (const c of clients) expect(values(c)).toEqual(expected);
  });

  it('enforces maxClients per instance: a full instance answers 503 while the others still accept', async () => {
    const [a, b] = instances as [Instance, Instance, Instance];
    await open(a); // its third: full now
    const refused = await expectRefused(a.wsUrl());
    expect([refused.status, refused.headers['retry-after']]).toEqual([503, '5']);
    await open(b); // b counts its own clients
    expect(await a.health()).toMatchObject({ clients: 3, maxClients: MAX_CLIENTS, redis: 'up' });
    expect(await b.health()).toMatchObject({ clients: 3, maxClients: MAX_CLIENTS });
    expect(await instances[2]!.health()).toMatchObject({ clients: 2 });
  });

  it('stopping one instance (SIGTERM) or crashing one (SIGKILL) leaves the clients of the others alone', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const closes = [...a.clients, ...b.clients].map(() => false);
    [...a.clients, ...b.clients].forEach((client, i) => client.ws.once('close', () => (closes[i] = true)));

    const stopped = await c.process.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    for (const client of c.clients) expect((await client.waitForClose(3000)).code).toBe(1001);
    const pub = redis.publisher();
    expect(await pub.call('PUBSUB', 'NUMSUB', channel)).toEqual([channel, 2]);
    await pub.publish(channel, JSON.stringify(metric('cpu', 100)));
    await Promise.all([...a.clients, ...b.clients].map((client) => client.waitFor(valueIs(100), 5000)));

    await b.process.stop('SIGKILL');
    for (const client of b.clients) await client.waitForClose(3000);
    await pub.publish(channel, JSON.stringify(metric('cpu', 101)));
    await Promise.all(a.clients.map((client) => client.waitFor(valueIs(101), 5000)));

    // a's clients saw neither a close nor a 503: the others going away is nothing to them.
    expect(closes.slice(0, a.clients.length)).toEqual(a.clients.map(() => false));
    for (const client of a.clients) {
      expect(client.ws.readyState).toBe(client.ws.OPEN);
      expect(client.packets.some((p) => p.type === 'error')).toBe(false);
      expect(values(client)).toEqual([...Array.from({ length: 21 }, (_, i) => i + 1), 100, 101].slice(client === a.clients[2] ? 21 : 0));
    }
    expect(await a.health()).toMatchObject({ clients: 3, redis: 'up' });
  });
});
