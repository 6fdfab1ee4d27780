// The server side of the soak, in a process of its own so that its RSS, heap and event-loop delay are the
// library's alone (the 100 clients and the producer run in the driver). Started by soak.ts with fork().
import http from 'node:http';
import type { Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { attachSystemStream } from '../../src/server/attach.js';
import type { Logger } from '../../src/shared/logger.js';
import type { FromServer, ServerSample, ToServer } from './ipc.js';

const redisUrl = process.env['SOAK_REDIS_URL'];
const apiKey = process.env['SOAK_API_KEY'];
if (!redisUrl || !apiKey || !process.send) {
  console.error('server.ts is started by soak.ts (fork with SOAK_REDIS_URL and SOAK_API_KEY)');
  process.exit(2);
}
const send = (message: FromServer): void => void process.send?.(message);

const logs: Record<string, number> = {};
const counting =
  (level: string) =>
  (_obj: object, msg?: string): void => {
    const key = `${level} ${msg ?? ''}`;
    logs[key] = (logs[key] ?? 0) + 1;
  };
const logger: Logger = { debug: () => {}, info: counting('info'), warn: counting('warn'), error: counting('error') };

const server = http.createServer((_req, res) => {
  res.statusCode = 404;
  res.end();
});
const sockets = new Set<Socket>();
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
});

// Default options but the key, the logger and the Redis-backed history (SOAK_HISTORY_STREAM=0: off): the
// soak measures what a host gets out of the box.
const historyStream = process.env['SOAK_HISTORY_STREAM'] !== '0';
const stream = attachSystemStream(server, { redis: redisUrl, apiKeys: [apiKey], logger, historyStream });

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let maxSocketBuffer = 0;
const bufferWatch = setInterval(() => {
  for (const socket of sockets) maxSocketBuffer = Math.max(maxSocketBuffer, socket.writableLength);
}, 250);
bufferWatch.unref();

function sample(): ServerSample {
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  const resources: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] ?? 0) + 1;
  const result: ServerSample = {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    cpuMicros: cpu.user + cpu.system,
    stats: stream.stats(),
    loopDelay: { max: loop.max / 1e6, p99: loop.percentile(99) / 1e6, mean: loop.mean / 1e6 },
    sockets: sockets.size,
    maxSocketBuffer,
    resources,
    logs: { ...logs },
  };
  loop.reset();
  maxSocketBuffer = 0;
  return result;
}

process.on('message', (message: ToServer) => {
  if (message.type === 'sample') {
    if (!message.gc) return send({ type: 'reply', id: message.id, sample: sample() });
    // Read the loop delay first, and forget the forced collection's pause, which the histogram records
    // only when its timer fires after this handler: the soak measures the library, not its own gc().
    const before = sample();
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    setTimeout(() => loop.reset(), 50).unref();
    send({
      type: 'reply',
      id: message.id,
      sample: { ...before, rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external },
    });
  } else if (message.type === 'close') {
    void (async () => {
      await stream.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      clearInterval(bufferWatch);
      loop.disable();
      send({ type: 'reply', id: message.id, sample: sample() });
      // Nothing else is left: the process must now exit by itself once the driver disconnects.
      process.disconnect();
    })();
  }
});

server.listen(0, '127.0.0.1', () => {
  void stream.ready.then(() => send({ type: 'ready', port: (server.address() as { port: number }).port }));
});
