import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { attachSystemStream } from '../../src/server/attach.js';
import type { SystemStream } from '../../src/server/stream.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { upgradeThenReset } from '../helpers/raw-socket.js';
import { connectOpen, expectRefused, rawUpgradeStatus } from '../helpers/ws-client.js';

describe('upgrade edges', () => {
  const fx = useStreamFixtures();
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);
  afterEach(() => {
    process.off('uncaughtException', onUncaught);
  });

  describe.each([
    ['the only upgrade listener', false],
    ['beside a host upgrade listener', true],
  ])('a client that resets right after its upgrade request, with the stream as %s', (_name, withHostListener) => {
    it('never raises an unhandled error, 100 times on our path, a near miss and another path', async () => {
      process.on('uncaughtException', onUncaught);
      const s = await fx.server({ apiKeys: ['k'], authenticate: () => new Promise((resolve) => setTimeout(() => resolve(false), 5)) });
      // A host listener like a second ws server's: it answers only its own path and attaches no error listener.
      // Sockets it leaves unanswered are its own business; the test cuts them off at the end.
      const unanswered: Duplex[] = [];
      if (withHostListener) {
        s.server.on('upgrade', (req, socket) => {
          if (req.url === '/host') socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
          else unanswered.push(socket);
        });
        fx.defer(() => unanswered.forEach((socket) => socket.destroy()));
      }
      for (let i = 0; i < 100; i++) {
        await Promise.all(['/api/system/ws?api_key=k', '/api/system/ws/', '/other', '/host'].map((path) => upgradeThenReset(s.port, path)));
      }
      await new Promise((resolve) => setTimeout(resolve, 100)); // let the last answers hit the reset sockets
      expect(uncaught).toEqual([]);
      fx.track(await connectOpen(s.wsUrl('api_key=k'))); // still serving
    }, 30_000);
  });

  describe('several streams on one server', () => {
    const servers: http.Server[] = [];
    const streams: SystemStream[] = [];
    afterEach(async () => {
      for (const stream of streams.splice(0)) await stream.close();
      for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    });

    async function twoStreams(): Promise<{ server: http.Server; port: number }> {
      const server = http.createServer();
      servers.push(server);
      for (const path of ['/a', '/b']) {
        streams.push(attachSystemStream(server, { redis: fx.redis().url, channel: fx.redis().channel(), path, auth: false }));
      }
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      await Promise.all(streams.map((s) => s.ready));
      return { server, port: (server.address() as AddressInfo).port };
    }

    it('each serves its own path, and a path neither serves gets 404 when the host has no upgrade listener', async () => {
      const { server, port } = await twoStreams();
      expect(server.listenerCount('upgrade')).toBe(1); // one shared router
      for (const path of ['/a', '/b']) fx.track(await connectOpen(`ws://127.0.0.1:${port}${path}`));
      expect((await expectRefused(`ws://127.0.0.1:${port}/c`)).status).toBe(404);
    });

    it('leaves a path neither serves to the host’s own upgrade listener', async () => {
      const { server, port } = await twoStreams();
      server.on('upgrade', (req, socket) => {
        if (req.url === '/host') socket.end('HTTP/1.1 418 I am a teapot\r\nContent-Length: 0\r\n\r\n');
      });
      expect(await rawUpgradeStatus(`ws://127.0.0.1:${port}/host`, {})).toBe(418);
    });

    it('removes the shared listener when the last stream closes', async () => {
      const { server } = await twoStreams();
      await streams[0]!.close();
      expect(server.listenerCount('upgrade')).toBe(1);
      await streams[1]!.close();
      expect(server.listenerCount('upgrade')).toBe(0);
    });
  });

  describe('an authenticate hook that never settles', () => {
    const never = (): Promise<boolean> => new Promise(() => {});

    it('is answered 503 with Retry-After after authenticateTimeoutMs', async () => {
      const s = await fx.server({ authenticate: never, authenticateTimeoutMs: 200 });
      const started = performance.now();
      const refused = await expectRefused(s.wsUrl());
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    });

    it('answers 503 at once past maxPendingAuthentications', async () => {
      const s = await fx.server({ authenticate: never, authenticateTimeoutMs: 10_000, maxPendingAuthentications: 2 });
      const waiting = [expectRefused(s.wsUrl()), expectRefused(s.wsUrl())];
      waiting.forEach((p) => p.catch(() => {}));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = performance.now();
      expect((await expectRefused(s.wsUrl())).status).toBe(503);
      expect(performance.now() - started).toBeLessThan(1000);
    });

    it('does not keep server.close() waiting after stream.close(): pending handshakes are destroyed', async () => {
      const server = http.createServer();
      const stream = attachSystemStream(server, {
        redis: fx.redis().url,
        channel: fx.redis().channel(),
        authenticate: never,
        authenticateTimeoutMs: 60_000,
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      await stream.ready;
      const pending = expectRefused(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/system/ws`);
      pending.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
      await stream.close();
      const closed = new Promise((resolve) => server.close(resolve));
      await expect(Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 3000))])).resolves.toBe(
        'closed',
      );
    });
  });

  describe('a plain request that offers another upgrade (curl --http2, Java HttpClient: Upgrade: h2c)', () => {
    /** Sends each request on one raw socket after the previous answer and returns the answers, joined. */
    async function rawExchange(port: number, ...requests: string[]): Promise<string> {
      const socket = net.connect(port, '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk: Buffer) => void (answer += chunk.toString('latin1')));
      const closed = once(socket, 'close');
      for (const [i, request] of requests.entries()) {
        socket.write(request);
        for (let waited = 0; waited < 3000 && (answer.match(/HTTP\/1\.1 \d{3} /g) ?? []).length <= i; waited += 20) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
      socket.destroy();
      return answer;
    }
    const h2c = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

    it('reaches the host’s routes, a POST with its body included, and keep-alive goes on', async () => {
      const s = await fx.server();
      s.app.post('/api/echo', express.text(), (req, res) => void res.type('text/plain').send(`echo:${String(req.body)}`));
      const body = 'hello';
      const answer = await rawExchange(
        s.port,
        `POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${h2c}Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer).toContain('echo:hello');
      expect(answer.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
      expect(answer).toContain('{"ok":true}');
    });

    it('on the stream’s own path gets the router’s 426, never a WebSocket', async () => {
      const s = await fx.server();
      const answer = await rawExchange(s.port, `GET /api/system/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n${h2c}Connection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 426 /);
    });
  });

  it('refuses ?types= that is empty or only commas with 400', async () => {
    const s = await fx.server();
    expect((await expectRefused(s.wsUrl('api_key=k&types='))).status).toBe(400);
    expect((await expectRefused(s.wsUrl('api_key=k&types=,,'))).status).toBe(400);
  });
});
