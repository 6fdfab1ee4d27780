import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ServerPacket } from '../../src/protocol/wire.js';
import type { TestRedis } from '../helpers/redis.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import type { TestServer } from '../helpers/server.js';
import { connectOpen, type TestClient } from '../helpers/ws-client.js';

// A producer that is not this package: redis-cli, as a Python or shell job would publish. The JSON goes
// to redis-cli as one argv entry (no shell), exactly as written here.
const run = promisify(execFile);

const SPEC_METRIC = `{"type":"system_metric","data":{"time":"2026-01-17T04:30:00Z","metric_type":"cpu","value":45.2,"source":"host","meta":{"unit":"percent"}}}`;
const SPEC_CONTAINER = `{"type":"container_status","data":{"container":"tick-archiver","status":"running","time":"2026-01-17T04:30:00Z"}}`;
const ALERT = `{"type":"alert","data":{"level":"critical","metric_type":"disk","source":"/var/lib/docker","value":96.2,"threshold":95,"message":"disk /var/lib/docker at 96.2 %","time":"2026-01-17T04:30:01+09:00"}}`;

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

/** `redis-cli -h 127.0.0.1 -p PORT PUBLISH channel message`; resolves with the receiver count it prints. */
async function redisCliPublish(message: string): Promise<number> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), 'PUBLISH', channel, message]);
  return Number(stdout.trim());
}

describe('interop: redis-cli PUBLISH as the producer', () => {
  it.each([
    ['system_metric (spec §3.1)', SPEC_METRIC],
    ['container_status (spec §3.2)', SPEC_CONTAINER],
    ['alert', ALERT],
  ])('delivers the %s JSON to a connected client unchanged, field for field', async (_what, json) => {
    expect(await redisCliPublish(json)).toBe(1); // the stream's subscriber
    const expected = JSON.parse(json) as ServerPacket;
    const received = await client.waitFor((p) => p.type === expected.type);
    expect(received).toEqual(expected);
    expect(JSON.stringify(received)).toBe(json); // same fields, same order, same number formatting
  });

  it('delivers a batch published as one JSON array', async () => {
    await redisCliPublish(`[${SPEC_METRIC},${SPEC_CONTAINER}]`);
    await client.waitFor((p) => p.type === 'container_status');
    expect(client.packets.slice(1)).toEqual([JSON.parse(SPEC_METRIC), JSON.parse(SPEC_CONTAINER)]);
  });

  it('drops what the schema refuses and delivers what follows', async () => {
    await redisCliPublish(SPEC_METRIC.replace('45.2', '"45.2"'));
    await redisCliPublish(SPEC_CONTAINER);
    await client.waitFor((p) => p.type === 'container_status');
    expect(client.packets.slice(1)).toEqual([JSON.parse(SPEC_CONTAINER)]);
    expect(server.stream.stats()).toMatchObject({ invalid: 1 });
  });
});
