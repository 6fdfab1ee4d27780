import http from 'node:http';
import { once } from 'node:events';
import { inspect } from 'node:util';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { attachSystemStream } from '../../src/server/attach.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { SystemStreamError } from '../../src/shared/errors.js';
import { metric } from '../helpers/fixtures.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connect, connectOpen } from '../helpers/ws-client.js';

async function subscriberCount(fx: ReturnType<typeof useStreamFixtures>, channel: string): Promise<number> {
  const [, count] = (await fx.redis().publisher().call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return count;
}

describe('lifecycle', () => {
  const fx = useStreamFixtures();

  it('ready resolves once Redis has confirmed the subscription', async () => {
    const s = await fx.server();
    expect(await subscriberCount(fx, s.channel)).toBe(1);
    expect(s.stream.stats().redis).toBe('up');
  });

  it('stats() counts clients, received, delivered, throttled and invalid', async () => {
    const s = await fx.server({ throttleMs: 1000 });
    const clients = [fx.track(await connectOpen(s.wsUrl('api_key=k'))), fx.track(await connectOpen(s.wsUrl('api_key=k')))];
    const pub = fx.redis().publisher();
    await pub.publish(s.channel, JSON.stringify([metric('cpu', 1), metric('cpu', 2), metric('cpu', 3)]));
    await pub.publish(s.channel, '{');
    await Promise.all(clients.map((c) => c.waitFor((p) => p.type === 'system_metric')));
    // The second PUBLISH may still be on its way when the first one's delivery arrives.
    await expect
      .poll(() => s.stream.stats())
      .toMatchObject({ clients: 2, received: 2, valid: 3, invalid: 1, throttled: 1, delivered: 2, redis: 'up' });
  });

  describe('close()', () => {
    it('closes clients with 1001, unsubscribes, closes its Redis connection and removes its listener; idempotent', async () => {
      const server = http.createServer();
      const baseline = server.listenerCount('upgrade');
      const channel = fx.redis().channel();
      const stream = attachSystemStream(server, { redis: fx.redis().url, channel, apiKeys: ['k'] });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      fx.defer(() => new Promise((r) => server.close(r)));
      await stream.ready;
      const { port } = server.address() as { port: number };
      const c = connect(`ws://127.0.0.1:${port}/api/system/ws?api_key=k`);
      await c.waitFor((p) => p.type === 'snapshot_end');
      const first = stream.close();
      const second = stream.close();
      expect(second).toBe(first);
      await first;
      expect(await c.waitForClose()).toEqual({ code: CloseCode.GoingAway, reason: 'server shutting down' });
      expect(server.listenerCount('upgrade')).toBe(baseline);
      await expect.poll(() => subscriberCount(fx, channel)).toBe(0);
      expect(stream.stats().redis).toBe('closed');
      // The path is free again.
      const again = attachSystemStream(server, { redis: fx.redis().url, channel, apiKeys: ['k'] });
      await again.ready;
      await again.close();
    });

    it('rejects ready when closed before Redis answered', async () => {
      const server = http.createServer();
      const stream = attachSystemStream(server, { redis: 'redis://127.0.0.1:1', apiKeys: ['k'] });
      await stream.close();
      await expect(stream.ready).rejects.toMatchObject({ code: 'SST_ERR_CLOSED' });
    });

    it('completes messages$', async () => {
      const s = await fx.server();
      let completed = false;
      s.stream.messages$.subscribe({ complete: () => (completed = true) });
      await s.stream.close();
      expect(completed).toBe(true);
    });
  });

  describe('a refused attach', () => {
    it.each([
      ['an unclosed IPv6 bracket', 'redis://:attach-secret@[::1'],
      ['a port over 65535', 'redis://:attach-secret@127.0.0.1:70000'],
      ['a malformed % escape', 'redis://:attach-secret%zz@127.0.0.1:1'],
    ])('(a Redis URL with %s) leaves nothing registered, so a corrected retry on the same server and path works', async (_what, url) => {
      const server = http.createServer();
      const baseline = { upgrade: server.listenerCount('upgrade'), request: server.listenerCount('request') };
      let thrown: unknown;
      try {
        attachSystemStream(server, { redis: url, channel: fx.redis().channel(), apiKeys: ['k'] });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(SystemStreamError);
      expect((thrown as SystemStreamError).code).toBe('SST_ERR_INVALID_OPTION');
      expect((thrown as Error).message).toMatch(/^Expected `redis` to be a redis:\/\/ or rediss:\/\/ URL that ioredis can open/);
      expect(`${String(thrown)} ${JSON.stringify(thrown)} ${inspect(thrown, { depth: 10 })}`).not.toContain('attach-secret');
      expect({ upgrade: server.listenerCount('upgrade'), request: server.listenerCount('request') }).toEqual(baseline);

      const channel = fx.redis().channel();
      const stream = attachSystemStream(server, { redis: fx.redis().url, channel, apiKeys: ['k'] });
      fx.defer(() => stream.close());
      await stream.ready;
      expect(server.listenerCount('upgrade')).toBe(baseline.upgrade + 1);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      fx.defer(() => new Promise((r) => server.close(r)));
      const { port } = server.address() as { port: number };
      const c = fx.track(connect(`ws://127.0.0.1:${port}/api/system/ws?api_key=k`));
      await c.waitFor((p) => p.type === 'snapshot_end');
      await fx.redis().publisher().publish(channel, JSON.stringify(metric()));
      await c.waitFor((p) => p.type === 'system_metric');
    });

    it('(an unknown option) leaves nothing registered either', async () => {
      const server = http.createServer();
      expect(() => attachSystemStream(server, { redis: fx.redis().url, apiKeys: ['k'], maxClient: 5 } as never)).toThrow(
        'Unknown option `maxClient` of attachSystemStream; did you mean `maxClients`?',
      );
      expect(server.listenerCount('upgrade')).toBe(0);
      const stream = attachSystemStream(server, { redis: fx.redis().url, apiKeys: ['k'], maxClients: 5 });
      fx.defer(() => stream.close());
      await stream.ready;
    });
  });

  it('refuses a second stream on the same path of the same server', async () => {
    const s = await fx.server();
    expect(() => attachSystemStream(s.server, { redis: fx.redis().url, apiKeys: ['k'] })).toThrow(SystemStreamError);
    const other = attachSystemStream(s.server, { redis: fx.redis().url, apiKeys: ['k'], path: '/other/ws' });
    await other.close();
  });

  it("duplicates the host's Redis client and never closes it", async () => {
    const hostClient = fx.redis().publisher();
    await hostClient.ping();
    const s = await fx.server({ redis: hostClient });
    const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    await hostClient.publish(s.channel, JSON.stringify(metric()));
    await c.waitFor((p) => p.type === 'system_metric');
    await s.stream.close();
    expect(hostClient.status).toBe('ready');
    expect(await hostClient.ping()).toBe('PONG');
  });

  describe('heartbeat', () => {
    it('terminates a client that does not answer pings, and keeps one that does', async () => {
      const s = await fx.server({ heartbeatIntervalMs: 50 });
      const deaf = connect(s.wsUrl('api_key=k'), { autoPong: false });
      const healthy = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      await deaf.waitFor((p) => p.type === 'snapshot_end');
      const closed = await deaf.waitForClose(2000);
      expect(closed.code).toBe(1006); // terminated, no close frame
      expect(s.stream.stats().deadClientsTerminated).toBe(1);
      expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
    });

    it('sends a heartbeat packet with every ping, which browsers (blind to pings) can see', async () => {
      const s = await fx.server({ heartbeatIntervalMs: 50 });
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      let pings = 0;
      c.ws.on('ping', () => pings++);
      await c.waitFor((p) => p.type === 'heartbeat', 2000);
      await expect.poll(() => c.packets.filter((p) => p.type === 'heartbeat').length, { timeout: 2000 }).toBeGreaterThanOrEqual(3);
      expect(pings).toBeGreaterThanOrEqual(2);
      expect(c.frames).toContain('{"type":"heartbeat"}');
    });
  });

  it('closes a client that sends data with 4400', async () => {
    const s = await fx.server();
    const c = connect(s.wsUrl('api_key=k'));
    await c.waitFor((p) => p.type === 'snapshot_end');
    c.ws.send('{"type":"subscribe"}');
    expect((await c.waitForClose()).code).toBe(CloseCode.BadRequest);
  });

  describe('router()', () => {
    it('serves the snapshot with the same authentication', async () => {
      const s = await fx.server();
      await fx
        .redis()
        .publisher()
        .publish(s.channel, JSON.stringify(metric('cpu', 42)));
      await expect.poll(() => s.stream.stats().valid).toBe(1);
      const ok = await request(s.server).get('/api/system/snapshot').set('x-api-key', 'k');
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ type: 'snapshot', data: [expect.objectContaining({ data: expect.objectContaining({ value: 42 }) })] });
      expect((await request(s.server).get('/api/system/snapshot')).status).toBe(401);
      expect((await request(s.server).get('/api/system/snapshot?api_key=k')).status).toBe(200);
    });

    it('reports health: Redis state and client count', async () => {
      const s = await fx.server({ maxClients: 7 });
      fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const res = await request(s.server).get('/api/system/health');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ok', redis: 'up', clients: 1, maxClients: 7 });
    });

    it('reports readiness: 200 while Redis is up, with the same body as health', async () => {
      const s = await fx.server({ maxClients: 7 });
      const res = await request(s.server).get('/api/system/ready');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ok', redis: 'up', clients: 0, maxClients: 7 });
    });

    it('works as a plain http.createServer handler: unknown paths get 404 instead of hanging', async () => {
      const server = http.createServer();
      const stream = attachSystemStream(server, { redis: fx.redis().url, channel: fx.redis().channel(), auth: false });
      fx.defer(() => stream.close());
      server.on('request', stream.router());
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      fx.defer(() => new Promise((r) => server.close(r)));
      await stream.ready;
      const unknown = await request(server).get('/nope').timeout(2000);
      expect([unknown.status, unknown.body]).toEqual([404, { error: 'not found' }]);
      expect((await request(server).post('/health').timeout(2000)).status).toBe(404);
      expect((await request(server).get('/health').timeout(2000)).body).toMatchObject({ status: 'ok', redis: 'up' });
      expect((await request(server).get('/ready').timeout(2000)).status).toBe(200);
    });

    it("leaves the host's own routes alone", async () => {
      const s = await fx.server();
      expect((await request(s.server).get('/api/health')).body).toEqual({ ok: true });
      expect((await request(s.server).get('/api/system/other')).status).toBe(404);
    });
  });
});
