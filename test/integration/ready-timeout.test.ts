import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { attachSystemStream } from '../../src/server/attach.js';
import type { SystemStream } from '../../src/server/stream.js';
import { deliverEventually } from '../helpers/deliver-eventually.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { rejection } from '../helpers/rejection.js';
import { startServer } from '../helpers/server.js';
import { connectOpen } from '../helpers/ws-client.js';
import { recordingLogger } from '../helpers/logger.js';

// `ready` never hangs silently: each test has its own redis-server, which is not there yet, or hung.

const disposers: (() => unknown)[] = [];
afterEach(async () => {
  for (const dispose of disposers.splice(0).reverse()) await dispose();
});

async function redisServer(options: Parameters<typeof startRedis>[0]): Promise<TestRedis> {
  const redis = await startRedis(options);
  disposers.push(() => redis.stop());
  return redis;
}

function attach(options: Parameters<typeof attachSystemStream>[1]): SystemStream {
  const stream = attachSystemStream(http.createServer(), options);
  disposers.push(() => stream.close());
  return stream;
}

describe('stream.ready never hangs silently', () => {
  it('logs at warn within 3 s that it still waits for a hung Redis, naming host:port and never the password', async ({ annotate }) => {
    const redis = await redisServer({ args: ['--requirepass', 's3cret-pw'] });
    redis.pause(); // accepts TCP, never answers: ioredis gets no event at all
    disposers.push(() => redis.resume());
    const logger = recordingLogger();
    const startedAt = performance.now();
    const stream = attach({ redis: `redis://default:s3cret-pw@127.0.0.1:${redis.port}`, auth: false, logger, readyTimeoutMs: 0 });
    let settled = false;
    stream.ready.then(
      () => (settled = true),
      () => (settled = true),
    );

    await expect
      .poll(() => logger.lines.find((l) => l.level === 'warn' && l.msg.includes('still waiting')), { timeout: 3000, interval: 50 })
      .toBeDefined();
    const warning = logger.lines.find((l) => l.msg.includes('still waiting'))!;
    const latencyMs = warning.at - startedAt;
    expect(latencyMs).toBeLessThan(3000);
    expect(warning.text).toContain(`127.0.0.1:${redis.port}`);
    expect(settled).toBe(false); // readyTimeoutMs: 0 never rejects

    redis.resume();
    await stream.ready;
    expect(stream.stats().redis).toBe('up');
    for (const line of logger.lines) expect(`${line.msg} ${line.text}`).not.toContain('s3cret-pw');
    await annotate(`warn logged ${Math.round(latencyMs)} ms after attach`);
  });

  it('rejects after readyTimeoutMs while Redis is not there, keeps retrying, and serves once Redis comes', async ({ annotate }) => {
    const redis = await redisServer({ started: false });
    const logger = recordingLogger();
    const channel = redis.channel();
    const s = await startServer({ redis: redis.url, channel, auth: false, logger, readyTimeoutMs: 500, throttleMs: 0 });
    disposers.push(() => s.close());
    const startedAt = performance.now();

    const err = await rejection(s.stream.ready);
    const rejectedMs = performance.now() - startedAt;
    expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
    expect(err.message).toContain(`127.0.0.1:${redis.port}`);
    expect(rejectedMs).toBeGreaterThanOrEqual(450);
    expect(rejectedMs).toBeLessThan(1500);
    expect(s.stream.stats().redis).toBe('down');

    await redis.start();
    const client = await connectOpen(s.wsUrl());
    disposers.push(() => client.close());
    await expect.poll(() => s.stream.stats().redis, { timeout: 3000 }).toBe('up');
    await deliverEventually(redis.publisher(), channel, client, 1);
    await annotate(`ready rejected ${Math.round(rejectedMs)} ms after attach with readyTimeoutMs 500`);
  });

  it('refuses a negative readyTimeoutMs', () => {
    expect(() => attachSystemStream(http.createServer(), { redis: 'redis://127.0.0.1:1', auth: false, readyTimeoutMs: -1 })).toThrow(
      /`readyTimeoutMs` to be an integer from 0 to 2147483647 .*got -1/,
    );
  });
});
