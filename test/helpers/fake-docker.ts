// A fake Docker Engine API: a real http.Server listening on a Unix socket in a temp dir, answering the
// two requests the sentinel sends (GET /containers/json?all=1 and the GET /events stream) from a list
// the test edits. It records every request, so a test can assert what was (not) asked.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One container as `GET /containers/json` lists it (the fields the sentinel reads, and a few more). */
export interface FakeContainer {
  readonly Id?: unknown;
  readonly Names?: unknown;
  readonly State?: unknown;
  readonly Status?: string;
  readonly Image?: string;
}

export interface FakeDocker {
  readonly socketPath: string;
  /** Paths of every request received, in order. */
  readonly requests: string[];
  /** How many times the container list was asked for. */
  listCount(): number;
  /** Replaces what the list answers. */
  setContainers(containers: readonly FakeContainer[]): void;
  /** Writes one event line to every open event stream. */
  emit(action: string, name: string): void;
  /** Open event streams. */
  eventStreams(): number;
  /** Resolves once at least `count` event streams are open. */
  waitForEventStreams(count?: number, timeoutMs?: number): Promise<void>;
  /** Stops answering (closes every connection and removes the socket), as a daemon that exits. */
  stop(): Promise<void>;
  /** Listens again on the same path. */
  start(): Promise<void>;
  /** Stops and removes the temp dir. */
  dispose(): Promise<void>;
}

export function container(name: string, state: string, id = `${name}-${'0'.repeat(60)}`.slice(0, 64)): FakeContainer {
  return { Id: id, Names: [`/${name}`], State: state, Status: state, Image: 'example/app:1' };
}

/** `hasEvents: false` answers /events with 404, as an API that implements only part of Docker's does. */
export async function startFakeDocker(initial: readonly FakeContainer[] = [], { hasEvents = true } = {}): Promise<FakeDocker> {
  const dir = mkdtempSync(join(tmpdir(), 'sst-docker-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: string[] = [];
  let containers: readonly FakeContainer[] = initial;
  const streams = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const wakers = new Set<() => void>();
  let server: Server | undefined;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? '';
    requests.push(path);
    if (req.method === 'GET' && /^\/(v[\d.]+\/)?containers\/json(\?|$)/.test(path)) {
      const body = JSON.stringify(containers);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (hasEvents && req.method === 'GET' && /^\/(v[\d.]+\/)?events(\?|$)/.test(path)) {
      // Docker answers 200 at once and then writes one JSON object per line, chunked, for as long as it runs.
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      streams.add(res);
      res.on('close', () => streams.delete(res));
      for (const wake of wakers) wake();
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ message: `page not found: ${path}` }));
  };

  const start = async (): Promise<void> => {
    server = createServer(handle);
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(socketPath);
    await once(server, 'listening');
  };

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const res of streams) res.destroy();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve())); // also removes the socket file
  };

  await start();
  return {
    socketPath,
    requests,
    listCount: () => requests.filter((p) => /containers\/json/.test(p)).length,
    setContainers(list) {
      containers = list;
    },
    emit(action, name) {
      const now = Date.now();
      const line = JSON.stringify({
        status: action,
        id: name,
        Type: 'container',
        Action: action,
        Actor: { ID: name, Attributes: { name } },
        scope: 'local',
        time: Math.floor(now / 1000),
        timeNano: now * 1e6,
      });
      for (const res of streams) res.write(`${line}\n`);
    },
    eventStreams: () => streams.size,
    waitForEventStreams(count = 1, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          if (streams.size < count) return;
          clearTimeout(timer);
          wakers.delete(wake);
          resolve();
        };
        const timer = setTimeout(() => {
          wakers.delete(wake);
          reject(new Error(`no ${count} event stream(s) within ${timeoutMs} ms (open: ${streams.size})`));
        }, timeoutMs);
        wakers.add(wake);
        wake();
      });
    },
    stop,
    start,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
