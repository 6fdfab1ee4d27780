import { once } from 'node:events';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import express from 'express';
import { attachSystemStream } from '../../src/server/attach.js';
import type { SystemStream } from '../../src/server/stream.js';
import type { SystemStreamOptions } from '../../src/server/options.js';

export interface TestServer {
  readonly app: express.Express;
  readonly server: http.Server;
  readonly stream: SystemStream;
  readonly port: number;
  readonly httpUrl: string;
  /** `ws://127.0.0.1:PORT/api/system/ws` with `query` appended. */
  wsUrl(query?: string): string;
  close(): Promise<void>;
}

/** An Express app with its own routes, an http.Server on a free port, and a stream attached to it. */
export async function startServer(options: SystemStreamOptions, mountRouter = true): Promise<TestServer> {
  const app = express();
  app.get('/api/health', (_req, res) => {
    res.json({ ok: true });
  });
  const server = http.createServer(app);
  const stream = attachSystemStream(server, options);
  if (mountRouter) app.use('/api/system', stream.router());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const path = options.path ?? '/api/system/ws';
  return {
    app,
    server,
    stream,
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: (query = '') => `ws://127.0.0.1:${port}${path}${query ? `?${query}` : ''}`,
    async close() {
      await stream.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A server for the topology tests: no key, no throttling, closed by `disposers`, returned once its
 * stream is ready.
 */
export async function startReadyServer(
  disposers: { add(dispose: () => unknown): void },
  options: SystemStreamOptions,
): Promise<TestServer> {
  const server = await startServer({ auth: false, throttleMs: 0, ...options });
  disposers.add(() => server.close());
  await server.stream.ready;
  return server;
}

/**
 * The server's side of every upgrade request to `server` from now on, in arrival order: what it has not
 * flushed to a client yet is `writableLength` (the bytes behind that client's `bufferedAmount`). Listens
 * on `upgrade` after the stream's own listener, so it only observes.
 */
export function serverSideSockets(server: http.Server): readonly Duplex[] {
  const sockets: Duplex[] = [];
  server.on('upgrade', (_req, socket: Duplex) => sockets.push(socket));
  return sockets;
}
