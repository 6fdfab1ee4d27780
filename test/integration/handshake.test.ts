import http from 'node:http';
import { once } from 'node:events';
import request from 'supertest';
import { WebSocket, WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { attachSystemStream } from '../../src/server/attach.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { metric } from '../helpers/fixtures.js';
import { connect, connectOpen, expectRefused } from '../helpers/ws-client.js';
import { recordingLogger } from '../helpers/logger.js';

describe('handshake', () => {
  const fx = useStreamFixtures();

  describe('authentication', () => {
    it('refuses a missing or wrong key with HTTP 401 and never opens a WebSocket', async () => {
      const s = await fx.server({ apiKeys: ['secret-key'] });
      expect((await expectRefused(s.wsUrl())).status).toBe(401);
      expect((await expectRefused(s.wsUrl('api_key=wrong'))).status).toBe(401);
      expect((await expectRefused(s.wsUrl(), { headers: { 'x-api-key': 'wrong' } })).status).toBe(401);
      expect(s.stream.stats()).toMatchObject({ clients: 0, rejected: 3 });
    });

    it('accepts the key in the api_key parameter, the x-api-key header or Authorization: Bearer', async () => {
      const s = await fx.server({ apiKeys: ['old-key', 'new-key'] });
      fx.track(await connectOpen(s.wsUrl('api_key=new-key')));
      fx.track(await connectOpen(s.wsUrl(), { headers: { 'x-api-key': 'old-key' } }));
      fx.track(await connectOpen(s.wsUrl(), { headers: { authorization: 'Bearer new-key' } }));
      expect(s.stream.stats().clients).toBe(3);
    });

    it('accepts whom authenticate() allows, synchronously or not, and answers 500 when it throws', async () => {
      const s = await fx.server({
        authenticate: async (req) => {
          if (req.headers.cookie === 'session=boom') throw new Error('session store down');
          return req.headers.cookie === 'session=ok';
        },
      });
      fx.track(await connectOpen(s.wsUrl(), { headers: { cookie: 'session=ok' } }));
      expect((await expectRefused(s.wsUrl(), { headers: { cookie: 'session=bad' } })).status).toBe(401);
      expect((await expectRefused(s.wsUrl(), { headers: { cookie: 'session=boom' } })).status).toBe(500);
    });

    it('serves without authentication only when auth: false is said', async () => {
      const s = await fx.server({ auth: false });
      fx.track(await connectOpen(s.wsUrl()));
      expect(() => attachSystemStream(http.createServer(), { redis: fx.redis().url })).toThrow(/No authentication configured/);
    });
  });

  describe('option: maxClients', () => {
    it('answers client maxClients + 1 with 503 and Retry-After, and keeps serving the others', async () => {
      const s = await fx.server({ maxClients: 2 });
      const a = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const b = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const refused = await expectRefused(s.wsUrl('api_key=k'));
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      await fx.redis().publisher().publish(s.channel, JSON.stringify(metric()));
      await Promise.all([a, b].map((c) => c.waitFor((p) => p.type === 'system_metric')));
    });

    it('frees the slot when a client leaves', async () => {
      const s = await fx.server({ maxClients: 1 });
      const a = await connectOpen(s.wsUrl('api_key=k'));
      await a.close();
      await expect.poll(() => s.stream.stats().clients).toBe(0);
      fx.track(await connectOpen(s.wsUrl('api_key=k')));
    });
  });

  describe('other paths', () => {
    it("leaves upgrades on other paths to the host's own WebSocket endpoint", async () => {
      const s = await fx.server();
      const hostWss = new WebSocketServer({ noServer: true });
      s.server.on('upgrade', (req, socket, head) => {
        if (req.url === '/host-ws') hostWss.handleUpgrade(req, socket, head, (ws) => ws.send('hello from host'));
      });
      fx.defer(() => hostWss.close());
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/host-ws`);
      fx.defer(() => ws.terminate());
      const [data] = (await once(ws, 'message')) as [Buffer];
      expect(data.toString()).toBe('hello from host');
    });

    it('answers 404 on other paths when no other upgrade listener exists, instead of hanging', async () => {
      const s = await fx.server();
      expect((await expectRefused(`ws://127.0.0.1:${s.port}/nope?api_key=k`)).status).toBe(404);
    });

    it('answers a plain GET on the WebSocket path with 426', async () => {
      const s = await fx.server();
      const res = await request(s.server).get('/api/system/ws');
      expect(res.status).toBe(426);
      expect(res.headers['upgrade']).toBe('websocket');
    });
  });

  describe('option: allowedOrigins', () => {
    it('refuses a cross-site handshake with 403 and accepts listed origins and non-browser clients', async () => {
      const s = await fx.server({ allowedOrigins: ['http://dashboard.local'] });
      expect((await expectRefused(s.wsUrl('api_key=k'), { headers: { origin: 'http://evil.local' } })).status).toBe(403);
      fx.track(await connectOpen(s.wsUrl('api_key=k'), { headers: { origin: 'http://dashboard.local' } }));
      fx.track(await connectOpen(s.wsUrl('api_key=k')));
    });
  });

  describe('types', () => {
    it('sends only the requested types and refuses unknown ones with 400', async () => {
      const s = await fx.server();
      const alertsOnly = fx.track(await connectOpen(s.wsUrl('api_key=k&types=alert')));
      expect((await expectRefused(s.wsUrl('api_key=k&types=bogus'))).status).toBe(400);
      const pub = fx.redis().publisher();
      await pub.publish(s.channel, JSON.stringify(metric()));
      const alertEnvelope = {
        type: 'alert',
        data: {
          level: 'critical',
          metric_type: 'cpu',
          source: 'host',
          value: 95,
          threshold: 90,
          message: 'hot',
          time: new Date().toISOString(),
        },
      };
      await pub.publish(s.channel, JSON.stringify(alertEnvelope));
      await alertsOnly.waitFor((p) => p.type === 'alert');
      expect(alertsOnly.packets.map((p) => p.type)).toEqual(['snapshot_end', 'alert']);
    });

    it('narrows to what authenticate() grants', async () => {
      const s = await fx.server({ authenticate: () => ({ types: ['container_status'] }) });
      const c = fx.track(await connectOpen(s.wsUrl()));
      const pub = fx.redis().publisher();
      await pub.publish(s.channel, JSON.stringify(metric()));
      await pub.publish(
        s.channel,
        JSON.stringify({ type: 'container_status', data: { container: 'db', status: 'running', time: new Date().toISOString() } }),
      );
      await c.waitFor((p) => p.type === 'container_status');
      expect(c.packets.some((p) => p.type === 'system_metric')).toBe(false);
    });
  });

  it('never logs the key', async () => {
    const logger = recordingLogger();
    const s = await fx.server({ apiKeys: ['TOPSECRET-1'], logger });
    fx.track(await connectOpen(s.wsUrl('api_key=TOPSECRET-1')));
    await expectRefused(s.wsUrl('api_key=TOPSECRET-2'));
    await expectRefused(s.wsUrl(), { headers: { authorization: 'Bearer TOPSECRET-3' } });
    await request(s.server).get('/api/system/snapshot?api_key=TOPSECRET-4');
    const c = connect(s.wsUrl('api_key=TOPSECRET-1'));
    await c.waitFor((p) => p.type === 'snapshot_end');
    c.ws.send('hello'); // a protocol error, logged with the client id
    await c.waitForClose();
    expect(logger.lines.length).toBeGreaterThan(3);
    expect(logger.dump()).not.toMatch(/TOPSECRET/);
  });
});
