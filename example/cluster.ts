// One stream per core on one port, with node:cluster. The primary only forks workers (and replaces one
// that dies); each worker is a whole API instance: its own Express app, its own stream and its own Redis
// subscriber, so every worker delivers every message to its own clients. Node's primary accepts the
// connections and hands them to the workers in turn (round-robin, the default everywhere but Windows),
// so WebSocket clients spread evenly and no sticky sessions are needed: a client only ever talks to the
// worker it connected to, and the snapshot every client gets on connect comes from that worker's memory.
//
//   npm run compile && node --import ./test/soak/register.mjs example/cluster.ts
//   REDIS_URL=redis://127.0.0.1:6379 API_KEY=… WORKERS=4 PORT=3000 …
//
// `maxClients` applies per worker: 4 workers with MAX_CLIENTS_PER_WORKER=2500 serve 10,000 dashboards.
// Run one sampler for the machine (`npm run sentinel`), never one per worker.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import express from 'express';
import { attachSystemStream } from 'system-stream';

const env = process.env;
const WORKERS = Number(env['WORKERS'] ?? availableParallelism());
const PORT = Number(env['PORT'] ?? 3000);
const HOST = env['HOST'] ?? '127.0.0.1';

if (cluster.isPrimary) {
  let isStopping = false;
  // One key for all workers: a client may land on any of them.
  const apiKey = env['API_KEY'] ?? randomBytes(16).toString('hex');
  if (!env['API_KEY']) console.log(`API key: ${apiKey}`);
  for (let i = 0; i < WORKERS; i++) cluster.fork({ API_KEY: apiKey });
  cluster.on('exit', (worker, code, signal) => {
    if (isStopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    console.log(`worker ${worker.id} exited (${signal ?? code}); starting another`);
    cluster.fork({ API_KEY: apiKey });
  });
  // Stop: each worker closes its clients with 1001 (they reconnect elsewhere) and its Redis connection.
  const stop = (): void => {
    isStopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const id = cluster.worker?.id ?? 0;
  const app = express();
  // Which worker answered: handy behind a load balancer, and what the test of this recipe reads.
  app.use((_req, res, next) => {
    res.setHeader('X-Worker', String(id));
    next();
  });
  const server = createServer(app);
  const stream = attachSystemStream(server, {
    redis: env['REDIS_URL'],
    apiKeys: [env['API_KEY'] ?? ''],
    maxClients: env['MAX_CLIENTS_PER_WORKER'] ? Number(env['MAX_CLIENTS_PER_WORKER']) : undefined,
  });
  app.use('/api/system', stream.router());
  // Every worker listens on the same port: the primary owns the socket. With PORT=0 they all get the
  // same free port.
  server.listen(PORT, HOST, () => {
    const { port } = server.address() as { port: number };
    console.log(`worker ${id} listening on ${port}`);
  });
  process.on('SIGTERM', () => {
    void stream.close().then(() => {
      server.closeAllConnections();
      server.close(() => process.exit(0));
    });
  });
}
