import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { attachSystemStream } from '../../src/server/attach.js';
import type { SystemStream } from '../../src/server/stream.js';
import type { SystemMetricMessage } from '../../src/protocol/wire.js';
import { createSystemPublisher } from '../../src/publisher/publisher.js';
import { metric } from '../helpers/fixtures.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connect, connectOpen, expectRefused } from '../helpers/ws-client.js';

// The README's recipes for hosts that already have things of their own on the server: a ws
// WebSocketServer, cookie sessions, TLS. Each test builds the host the way the README shows.
const fx = useStreamFixtures();

/** Listens on a free port on 127.0.0.1 and registers the server's disposal; returns the port. */
async function listen(server: http.Server | https.Server, stream: SystemStream): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fx.defer(async () => {
    await stream.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await stream.ready;
  return (server.address() as { port: number }).port;
}

/** Publishes a cpu metric on `channel` and returns its value. */
async function publishCpu(channel: string, value: number): Promise<void> {
  const publisher = createSystemPublisher({ redis: fx.redis().url, channel });
  fx.defer(() => publisher.close());
  await publisher.publish(metric('cpu', value));
}

const isCpu = (value: number) => (p: { type: string; data?: unknown }) =>
  p.type === 'system_metric' && (p as SystemMetricMessage).data.value === value;

describe("beside the host's own ws WebSocketServer", () => {
  it('works with noServer: true and an upgrade listener that routes only its own path', async () => {
    const channel = fx.redis().channel();
    const server = http.createServer(express());
    const stream = attachSystemStream(server, { redis: fx.redis().url, channel, apiKeys: ['k'] });
    // The host's chat socket, created with noServer so that ws does not answer the stream's path.
    const chat = new WebSocketServer({ noServer: true });
    chat.on('connection', (ws) => ws.send('welcome to chat'));
    server.on('upgrade', (req, socket, head) => {
      const { pathname } = new URL(req.url ?? '/', 'http://localhost');
      if (pathname === '/chat') chat.handleUpgrade(req, socket, head, (ws) => chat.emit('connection', ws, req));
      else if (pathname !== stream.path) socket.destroy(); // neither the chat's nor the stream's
    });
    fx.defer(() => new Promise((resolve) => chat.close(resolve)));
    const port = await listen(server, stream);

    const dashboard = fx.track(await connectOpen(`ws://127.0.0.1:${port}/api/system/ws?api_key=k`));
    const chatter = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    fx.defer(() => chatter.terminate());
    const [welcome] = (await once(chatter, 'message')) as [Buffer];
    expect(welcome.toString()).toBe('welcome to chat');
    await publishCpu(channel, 12.5);
    await dashboard.waitFor(isCpu(12.5));

    // A path nobody owns is closed, not left hanging.
    const stray = new WebSocket(`ws://127.0.0.1:${port}/nope`);
    const closed = new Promise<number>((resolve) => stray.once('close', resolve)); // not once(): it rejects on 'error'
    const error = new Promise<Error>((resolve) => stray.once('error', resolve));
    expect((await error).message).toBe('socket hang up');
    expect(await closed).toBe(1006);
    expect(stray.readyState).toBe(WebSocket.CLOSED);
  });

  it('breaks the stream when made with { server, path } first: ws answers 400 to every upgrade on a path it does not own', async () => {
    const server = http.createServer(express());
    const chat = new WebSocketServer({ server, path: '/chat' });
    fx.defer(() => new Promise((resolve) => chat.close(resolve)));
    const stream = attachSystemStream(server, { redis: fx.redis().url, channel: fx.redis().channel(), apiKeys: ['k'] });
    const port = await listen(server, stream);
    expect((await expectRefused(`ws://127.0.0.1:${port}/api/system/ws?api_key=k`)).status).toBe(400);
  });

  it('breaks the stream when made with { server, path } after it too: ws writes its 400 into the open socket', async () => {
    const server = http.createServer(express());
    const stream = attachSystemStream(server, { redis: fx.redis().url, channel: fx.redis().channel(), apiKeys: ['k'] });
    const chat = new WebSocketServer({ server, path: '/chat' });
    fx.defer(() => new Promise((resolve) => chat.close(resolve)));
    const port = await listen(server, stream);
    const client = fx.track(connect(`ws://127.0.0.1:${port}/api/system/ws?api_key=k`));
    // The stream completes the handshake first; then ws's listener writes "HTTP/1.1 400" into the same
    // socket and ends it: the client reads that as an invalid frame and the connection is gone.
    const closed = await client.waitForClose(2000);
    expect([1002, 1006]).toContain(closed.code);
  });
});

describe('authenticate(req) with a session cookie', () => {
  /** The cookies of a raw request: Express middleware such as cookie-parser has not run on an upgrade. */
  function cookies(req: IncomingMessage): Map<string, string> {
    const out = new Map<string, string>();
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0) out.set(part.slice(0, eq).trim(), decodeURIComponent(part.slice(eq + 1).trim()));
    }
    return out;
  }

  it('serves a browser with a valid session from an allowed origin, and refuses the rest with plain HTTP', async () => {
    const channel = fx.redis().channel();
    const sessions = new Map([['s3ss10n', { user: 'ada' }]]);
    const app = express();
    let sawExpressRequest = false;
    app.use((req, _res, next) => {
      (req as unknown as { session: unknown }).session = sessions.get(cookies(req).get('sid') ?? '');
      next();
    });
    const server = http.createServer(app);
    const stream = attachSystemStream(server, {
      redis: fx.redis().url,
      channel,
      allowedOrigins: ['https://app.example.com'], // a cookie rides along from any page: check where it comes from
      authenticate: (req) => {
        // The raw upgrade request: the app's middleware never ran on it, so there is no req.session.
        if ('session' in req) sawExpressRequest = true;
        const sid = cookies(req).get('sid');
        return sid !== undefined && sessions.has(sid);
      },
    });
    const port = await listen(server, stream);
    const url = `ws://127.0.0.1:${port}/api/system/ws`;

    const client = fx.track(await connectOpen(url, { headers: { Cookie: 'theme=dark; sid=s3ss10n' }, origin: 'https://app.example.com' }));
    await publishCpu(channel, 33.3);
    await client.waitFor(isCpu(33.3));
    expect(sawExpressRequest).toBe(false);

    expect((await expectRefused(url, { headers: { Cookie: 'sid=forged' }, origin: 'https://app.example.com' })).status).toBe(401);
    expect((await expectRefused(url, { origin: 'https://app.example.com' })).status).toBe(401);
    expect((await expectRefused(url, { headers: { Cookie: 'sid=s3ss10n' }, origin: 'https://evil.example' })).status).toBe(403);

    // The snapshot endpoint behind the same hook: a plain GET with the cookie.
    app.use('/api/system', stream.router());
    const res = await fetch(`http://127.0.0.1:${port}/api/system/snapshot`, { headers: { Cookie: 'sid=s3ss10n' } });
    expect(res.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/api/system/snapshot`)).status).toBe(401);
  });
});

describe('TLS: attached to an https.Server', () => {
  let dir: string;
  let key: string;
  let cert: string;

  beforeAll(() => {
    // A throwaway self-signed certificate for 127.0.0.1, made with the system's openssl.
    dir = mkdtempSync(join(tmpdir(), 'system-stream-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore', timeout: 20_000 },
    );
    key = readFileSync(join(dir, 'key.pem'), 'utf8');
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves wss:// and the router over https, verified against the certificate', async () => {
    const channel = fx.redis().channel();
    const app = express();
    const server = https.createServer({ key, cert }, app);
    const stream = attachSystemStream(server, { redis: fx.redis().url, channel, apiKeys: ['k'] });
    app.use('/api/system', stream.router());
    const port = await listen(server, stream);

    const client = fx.track(await connectOpen(`wss://127.0.0.1:${port}/api/system/ws?api_key=k`, { ca: cert }));
    await publishCpu(channel, 44.4);
    await client.waitFor(isCpu(44.4));

    const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${port}/api/system/health`, { ca: cert }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', redis: 'up' });

    // Without trusting the certificate, the TLS handshake fails before any WebSocket or HTTP exchange.
    const untrusted = connect(`wss://127.0.0.1:${port}/api/system/ws?api_key=k`);
    const error = await new Promise<Error>((resolve) => untrusted.ws.once('error', resolve));
    expect(error.message).toMatch(/self-signed certificate/);
  });
});
