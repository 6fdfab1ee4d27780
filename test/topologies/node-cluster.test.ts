// The node:cluster recipe (example/cluster.ts) as a user runs it: a primary and 2 workers on one port,
// each with its own stream; clients that land on either worker receive every message.
import { existsSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerPacket } from '../../src/protocol/wire.js';
import { runTs, type TsProcess } from '../helpers/child-process.js';
import { metric } from '../helpers/fixtures.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { connectOpen, type TestClient } from '../helpers/ws-client.js';

const EXAMPLE = new URL('../../example/cluster.ts', import.meta.url);
// The example imports `system-stream`, which resolves to the package's own build, as it would for a user.
const BUILD = new URL('../../dist/index.js', import.meta.url);

let redis: TestRedis;
let app: TsProcess;
let port: number;
const clients: TestClient[] = [];

beforeAll(async () => {
  if (!existsSync(BUILD)) throw new Error('dist/ is missing: run `npm run compile` (npm run test:topologies does)');
  redis = await startRedis();
  app = runTs(EXAMPLE, { REDIS_URL: redis.url, API_KEY: 'k', WORKERS: '2', PORT: '0' });
  await app.waitFor(/worker 1 listening on (\d+)/);
  const [, listening] = await app.waitFor(/worker 2 listening on (\d+)/);
  port = Number(listening);
  expect(app.output()).toMatch(new RegExp(`worker 1 listening on ${port}`));
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await app?.stop('SIGTERM');
  await redis?.stop();
});

/** `/api/system/health` until each worker has answered once: worker id → its report. */
async function healthByWorker(): Promise<Map<string, { clients: number; redis: string }>> {
  const seen = new Map<string, { clients: number; redis: string }>();
  for (let attempt = 0; attempt < 20 && seen.size < 2; attempt++) {
    // A fresh connection each time (no agent, no keep-alive), so that the primary hands each to the next worker.
    const { worker, body } = await new Promise<{ worker: string; body: string }>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${port}/api/system/health`, { agent: false }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ worker: String(res.headers['x-worker']), body }));
        })
        .on('error', reject);
    });
    seen.set(worker, JSON.parse(body) as { clients: number; redis: string });
  }
  return seen;
}

describe('node:cluster recipe (example/cluster.ts)', () => {
  it('runs one stream per worker on one port, and clients on both workers receive every message', async () => {
    // Each worker subscribes on its own connection.
    const pub = redis.publisher();
    await expect.poll(async () => pub.call('PUBSUB', 'NUMSUB', 'system:metrics'), { timeout: 10_000 }).toEqual(['system:metrics', 2]);
    for (let i = 0; i < 6; i++) clients.push(await connectOpen(`ws://127.0.0.1:${port}/api/system/ws?api_key=k`));
    const workers = await healthByWorker();
    expect([...workers.keys()].sort()).toEqual(['1', '2']);
    const counts = [...workers.values()].map((w) => w.clients);
    expect(counts.every((n) => n > 0)).toBe(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(6);

    // One key per value: the example keeps the default throttle, which would keep only the latest of one key.
    for (let value = 1; value <= 10; value++) await pub.publish('system:metrics', JSON.stringify(metric('cpu', value, `host-${value}`)));
    const last = (p: ServerPacket): boolean => p.type === 'system_metric' && p.data.value === 10;
    await Promise.all(clients.map((c) => c.waitFor(last, 5000)));
    for (const c of clients) {
      const live = c.packets.slice(c.packets.findIndex((p) => p.type === 'snapshot_end') + 1);
      expect(live.flatMap((p) => (p.type === 'system_metric' ? [p.data.value] : []))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
  });

  it('stops cleanly on SIGTERM: clients are closed with 1001 and every process exits', async () => {
    const closed = clients.map((c) => c.waitForClose(5000));
    const exit = await app.stop('SIGTERM');
    expect(exit.code).toBe(0);
    for (const event of await Promise.all(closed)) expect(event.code).toBe(1001);
  });
});
