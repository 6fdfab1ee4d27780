import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/shared/logger.js';
import type { SystemStreamOptions } from '../../src/server/options.js';
import { failOnProcessCrash } from '../helpers/crash-guard.js';
import { deliverEventually } from '../helpers/deliver-eventually.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { rejection } from '../helpers/rejection.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connectOpen, is200, is503 } from '../helpers/ws-client.js';
import { recordingLogger } from '../helpers/logger.js';

// Redis ACLs against the subscriber's own user: a real redis-server, users changed with ACL SETUSER while
// the stream runs. Redis itself disconnects a client whose subscription an ACL change no longer allows;
// CLIENT KILL USER makes sure of it. Every test fails if anything reaches unhandledRejection/uncaughtException.

describe('Redis ACLs and the subscriber', () => {
  const fx = useStreamFixtures();
  failOnProcessCrash();

  /** A stream on `channel` that subscribes as `user` (password `pw`); `ready` is not awaited. */
  async function streamAs(user: string, channel: string, logger: Logger, options: SystemStreamOptions = {}): Promise<TestServer> {
    const s = await startServer({ redis: fx.redis().userUrl(user, 'pw'), channel, apiKeys: ['k'], logger, throttleMs: 0, ...options });
    fx.defer(() => s.close());
    return s;
  }

  /** How often Redis has refused `channel` to a SUBSCRIBE so far (ACL LOG groups repeats into one entry). */
  async function refusals(channel: string): Promise<number> {
    const entries = await fx.redis().aclLog();
    return entries.filter((e) => e.reason === 'channel' && e.object === channel).reduce((sum, e) => sum + e.count, 0);
  }

  async function subscribeCalls(): Promise<number> {
    const info = (await fx.redis().publisher().info('commandstats')) as string;
    return Number(/cmdstat_subscribe:calls=(\d+)/.exec(info)?.[1] ?? 0);
  }

  describe('SUBSCRIBE refused', () => {
    it('at start: ready rejects, clients get 503, and the stream subscribes by itself once the ACL allows the channel', async ({
      annotate,
    }) => {
      const channel = fx.redis().channel();
      await fx.redis().setUser('late', 'on', '>pw', 'resetchannels', '&other', '-@all', '+subscribe', '+ping');
      const logger = recordingLogger();
      const s = await streamAs('late', channel, logger);

      const err = await rejection(s.stream.ready);
      expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
      expect(err.message).toMatch(/refused SUBSCRIBE .*NOPERM/);
      expect(s.stream.stats().redis).toBe('down');
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      await c.waitFor(is503, 1000);
      const liveness = await request(s.server).get('/api/system/health');
      expect([liveness.status, liveness.body.status, liveness.body.redis]).toEqual([200, 'ok', 'down']);
      const readiness = await request(s.server).get('/api/system/ready');
      expect([readiness.status, readiness.body.status, readiness.body.redis]).toEqual([503, 'unavailable', 'down']);

      // Retried with backoff, logged once.
      await expect.poll(() => refusals(channel), { timeout: 3000 }).toBeGreaterThanOrEqual(3);
      expect(logger.count('error', 'refused SUBSCRIBE')).toBe(1);

      const allowedAt = performance.now();
      await fx.redis().setUser('late', `&${channel}`);
      await c.waitFor(is200, 3000);
      await deliverEventually(fx.redis().publisher(), channel, c, 1);
      const recoveredMs = performance.now() - allowedAt;
      expect(recoveredMs).toBeLessThan(3000);
      expect(s.stream.stats().redis).toBe('up');
      expect((await request(s.server).get('/api/system/ready')).status).toBe(200);
      expect(logger.count('error', 'refused SUBSCRIBE')).toBe(1);
      await annotate(`data flowing ${Math.round(recoveredMs)} ms after the ACL allowed the channel`);
    });

    it('after a reconnect (ACL flip, CLIENT KILL USER): no crash, 503, one log, retries until allowed, then 200 and data', async ({
      annotate,
    }) => {
      const channel = fx.redis().channel();
      const pub = fx.redis().publisher();
      await fx.redis().setUser('flip', 'on', '>pw', 'resetchannels', `&${channel}`, '-@all', '+subscribe', '+ping');
      const logger = recordingLogger();
      const s = await streamAs('flip', channel, logger);
      await s.stream.ready;
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      await deliverEventually(pub, channel, c, 1);

      const mark = c.packets.length;
      await fx.redis().setUser('flip', 'resetchannels', '&other');
      await pub.call('CLIENT', 'KILL', 'USER', 'flip');
      await c.waitFor(is503, 1000, mark);
      await expect.poll(() => refusals(channel), { timeout: 3000 }).toBeGreaterThanOrEqual(3);
      expect(s.stream.stats().redis).toBe('down');
      expect((await request(s.server).get('/api/system/health')).status).toBe(200);
      expect((await request(s.server).get('/api/system/ready')).status).toBe(503);
      expect(c.ws.readyState).toBe(c.ws.OPEN);
      expect(logger.count('error', 'refused SUBSCRIBE')).toBe(1);
      expect(logger.count('error', 'redis unavailable')).toBe(1);

      const allowedAt = performance.now();
      await fx.redis().setUser('flip', `&${channel}`);
      await c.waitFor(is200, 3000, mark);
      await deliverEventually(pub, channel, c, 2);
      const recoveredMs = performance.now() - allowedAt;
      expect(recoveredMs).toBeLessThan(3000);
      expect(s.stream.stats().redis).toBe('up');
      const [, subscribers] = (await pub.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
      expect(subscribers).toBe(1);
      await annotate(`data flowing ${Math.round(recoveredMs)} ms after the ACL allowed the channel again`);
    });

    it('after a Redis restart whose ACL lacks the channel: stays down without crashing, recovers when allowed', async () => {
      const channel = fx.redis().channel();
      await fx.redis().setUser('boot', 'on', '>pw', 'resetchannels', `&${channel}`, '-@all', '+subscribe', '+ping');
      const logger = recordingLogger();
      const s = await streamAs('boot', channel, logger);
      await s.stream.ready;
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));

      await fx.redis().kill();
      await c.waitFor(is503, 1000);
      const mark = c.packets.length;
      await fx.redis().start(['--user', 'boot', 'on', '>pw', 'resetchannels', '&other', '-@all', '+subscribe', '+ping']);
      await expect.poll(() => refusals(channel), { timeout: 3000 }).toBeGreaterThanOrEqual(2);
      expect(c.packets.slice(mark).filter(is200)).toEqual([]);
      expect(s.stream.stats().redis).toBe('down');
      expect(logger.count('error', 'refused SUBSCRIBE')).toBe(1);

      await fx.redis().setUser('boot', `&${channel}`);
      await c.waitFor(is200, 3000, mark);
      await deliverEventually(fx.redis().publisher(), channel, c, 3);
    });
  });

  describe('a least-privilege user: SUBSCRIBE on the channel, nothing else (no PING, no INFO)', () => {
    it('gets ready, delivers, and stays up: the health check re-sends SUBSCRIBE after one refused PING', async () => {
      const channel = fx.redis().channel();
      await fx.redis().setUser('lean', 'on', '>pw', 'resetchannels', `&${channel}`, '-@all', '+subscribe');
      const logger = recordingLogger();
      const s = await streamAs('lean', channel, logger, { redisHealthCheckMs: 50 });
      await s.stream.ready;
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      await deliverEventually(fx.redis().publisher(), channel, c, 1);

      // Ten more health checks, each a SUBSCRIBE answered by Redis.
      const before = await subscribeCalls();
      await expect.poll(subscribeCalls, { timeout: 3000 }).toBeGreaterThanOrEqual(before + 10);
      expect(s.stream.stats().redis).toBe('up');
      expect(c.packets.filter(is503)).toEqual([]);
      const pings = (await fx.redis().aclLog()).filter((e) => e.username === 'lean' && e.object === 'ping');
      expect(pings.map((e) => e.count)).toEqual([1]);
      expect(logger.count('info', 'may not PING')).toBe(1);
    });

    it('still detects a hung Redis (SIGSTOP) with that check, and recovers at SIGCONT', async () => {
      const channel = fx.redis().channel();
      await fx.redis().setUser('lean2', 'on', '>pw', 'resetchannels', `&${channel}`, '-@all', '+subscribe');
      const s = await streamAs('lean2', channel, recordingLogger());
      await s.stream.ready;
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      await expect
        .poll(async () => (await fx.redis().aclLog()).some((e) => e.username === 'lean2' && e.object === 'ping'), { timeout: 3000 })
        .toBe(true);

      const stoppedAt = performance.now();
      fx.redis().pause();
      try {
        await c.waitFor(is503, 3000);
        expect(performance.now() - stoppedAt).toBeLessThan(3000);
      } finally {
        fx.redis().resume();
      }
      await c.waitFor(is200, 3000);
      await deliverEventually(fx.redis().publisher(), channel, c, 2);
    });
  });
});
