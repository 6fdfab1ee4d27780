// Benchmark server: the library (`--impl lib`, with `--compression` its shared permessage-deflate) or the bare
// baseline (`--impl bare`: ioredis subscriber + ws, one Buffer per message written to every client;
// `--impl bare-deflate`: the same with ws's own per-connection permessage-deflate). Reports its own CPU and memory on GET /bench/stats.
// With `--workers N` (N > 1) it runs as example/cluster.ts does: a node:cluster primary forks N workers,
// each a whole server with its own subscriber, all on one port (the primary hands out connections in
// turn); the primary answers /bench/* on a port of its own with the sum over the workers and itself.
import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string' },
    redis: { type: 'string' },
    channel: { type: 'string' },
    'max-clients': { type: 'string', default: '100' },
    'throttle-ms': { type: 'string' },
    'write-delay-ms': { type: 'string', default: '0' },
    metrics: { type: 'boolean', default: false },
    compression: { type: 'boolean', default: false },
    'max-messages-per-second': { type: 'string' },
    // Writes a CPU profile of the measured part only (from /bench/ingest-reset to the /bench/stats after it).
    'profile-to': { type: 'string' },
    // Another build of the library (a `dist` directory), to measure before and after in one run.
    dist: { type: 'string' },
    workers: { type: 'string', default: '1' },
  },
});
if (Number(args.workers) > 1 && cluster.isPrimary) {
  await runPrimary(Number(args.workers));
} else {
  await runServer();
}

async function runServer() {
  const { attachSystemStream } = await import(args.dist ? pathToFileURL(`${args.dist}/index.js`).href : '../../dist/index.js');

  // When the server saw the first and the last Redis message, in the publisher's clock (µs).
  const ingest = { first: 0, last: 0, count: 0 };
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  const sawMessage = () => {
    const now = nowUs();
    if (ingest.count++ === 0) ingest.first = now;
    ingest.last = now;
  };

  let profiler = null; // the inspector session while the measured part is profiled
  let statsSinceReset = 0;

  async function reset() {
    ingest.first = ingest.last = ingest.count = 0;
    statsSinceReset = 0;
    if (args['profile-to']) {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
      await profiler.post('Profiler.start');
    }
  }

  async function stats() {
    // The first call after the reset opens the measured part, the second closes it.
    if (profiler && ++statsSinceReset === 2) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(args['profile-to'], JSON.stringify(profile));
      profiler.disconnect();
      profiler = null;
    }
    // CPU is read before the collection below, which would otherwise count a forced full GC in every measurement.
    const cpu = process.cpuUsage();
    globalThis.gc?.();
    let bytesOut = closedBytesOut;
    for (const socket of sockets) bytesOut += socket.bytesWritten;
    return { cpu, mem: process.memoryUsage(), maxRssKb: process.resourceUsage().maxRSS, stream: stream?.stats(), ingest, bytesOut };
  }

  const server = http.createServer(async (req, res) => {
    if (req.url === '/bench/ingest-reset') {
      await reset();
      res.end('{}');
    } else if (req.url === '/bench/stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(await stats()));
    } else {
      res.writeHead(404).end();
    }
  });
  server.maxConnections = 50_000;
  // Bytes written to every client socket (handshakes included, a few hundred bytes each): the same count for every implementation.
  const sockets = new Set();
  let closedBytesOut = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closedBytesOut += socket.bytesWritten;
    });
  });

  let stream;
  if (args.impl === 'lib') {
    stream = attachSystemStream(server, {
      redis: args.redis,
      channel: args.channel,
      apiKeys: ['bench-key'],
      maxClients: Number(args['max-clients']),
      ...(args['throttle-ms'] !== undefined ? { throttleMs: Number(args['throttle-ms']) } : {}),
      writeDelayMs: Number(args['write-delay-ms']),
      ...(args.metrics ? { metrics: true } : {}),
      // Always explicit: the library compresses by default, and the `lib` row is the uncompressed baseline.
      compression: args.compression,
      ...(args['max-messages-per-second'] ? { maxMessagesPerSecond: Number(args['max-messages-per-second']) } : {}),
    });
    await stream.ready;
    if (args.metrics && stream.metrics === undefined) throw new Error('--metrics given but the stream has no metrics');
    stream.messages$.subscribe(sawMessage);
  } else if (args.impl === 'bare' || args.impl === 'bare-deflate') {
    // bare-deflate: ws's own permessage-deflate, one compression context per connection, every message compressed.
    const perMessageDeflate = args.impl === 'bare-deflate' ? { threshold: 0 } : false;
    const wss = new WebSocketServer({ server, path: '/api/system/ws', perMessageDeflate });
    // `?source=h7`: the naive way, a check of each client's filter for every message (the message is parsed
    // once, and only when some client filters).
    const filters = new WeakMap();
    const SNAPSHOT_END = '{"type":"snapshot_end","data":{"count":0}}';
    wss.on('connection', (ws, req) => {
      const source = new URL(req.url, 'http://bench').searchParams.get('source');
      if (source) filters.set(ws, source);
      // An empty snapshot, as the library sends one: the load generator counts only what follows it.
      ws.send(SNAPSHOT_END);
    });
    const sub = new Redis(args.redis);
    const text = { binary: false };
    sub.on('messageBuffer', (_channel, message) => {
      sawMessage();
      let host;
      for (const ws of wss.clients) {
        const wanted = filters.get(ws);
        if (wanted !== undefined) {
          host ??= JSON.parse(message).data.source.split(':')[0];
          if (wanted !== host) continue;
        }
        ws.send(message, text);
      }
    });
    await sub.subscribe(args.channel);
  } else {
    throw new Error(`unknown --impl ${args.impl}`);
  }

  // A deep accept backlog: thousands of clients connect at once (Node's default of 511 drops SYNs,
  // which the kernel retries only after a second).
  // (With node:cluster the primary owns the listening socket; workers asking for port 0 all share one.)
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    if (cluster.isWorker) process.send({ kind: 'ready', port: server.address().port });
    else process.stdout.write(`READY ${server.address().port}\n`);
  });
  if (cluster.isWorker) {
    process.on('message', async (msg) => {
      if (msg.kind === 'reset') await reset();
      process.send({ kind: msg.kind, id: msg.id, stats: msg.kind === 'stats' ? await stats() : null });
    });
  }
  // SIGTERM exits through process.exit so that --cpu-prof writes its profile.
  process.on('SIGTERM', () => process.exit(0));
}

async function runPrimary(n) {
  cluster.setupPrimary({ execArgv: process.execArgv });
  const workers = Array.from({ length: n }, () => cluster.fork());
  const ports = await Promise.all(
    workers.map((w) => new Promise((resolve) => w.on('message', (m) => m.kind === 'ready' && resolve(m.port)))),
  );
  let nextId = 0;
  const ask = (kind) =>
    Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve) => {
            const id = nextId++;
            const onReply = (m) => m.id === id && (w.off('message', onReply), resolve(m.stats));
            w.on('message', onReply);
            w.send({ kind, id });
          }),
      ),
    );
  const sum = (xs, pick) => xs.reduce((a, x) => a + pick(x), 0);
  const control = http.createServer(async (req, res) => {
    if (req.url === '/bench/ingest-reset') {
      await ask('reset');
      res.end('{}');
    } else if (req.url === '/bench/stats') {
      const own = process.cpuUsage();
      const all = await ask('stats');
      const streams = all.map((x) => x.stream).filter(Boolean);
      const body = {
        cpu: { user: own.user + sum(all, (x) => x.cpu.user), system: own.system + sum(all, (x) => x.cpu.system) },
        mem: {
          rss: process.memoryUsage().rss + sum(all, (x) => x.mem.rss),
          heapUsed: sum(all, (x) => x.mem.heapUsed),
          external: sum(all, (x) => x.mem.external),
        },
        maxRssKb: sum(all, (x) => x.maxRssKb),
        stream: streams.length
          ? {
              conflated: sum(streams, (x) => x.conflated),
              throttled: sum(streams, (x) => x.throttled),
              received: sum(streams, (x) => x.received),
            }
          : undefined,
        ingest: {
          first: Math.min(...all.filter((x) => x.ingest.count > 0).map((x) => x.ingest.first)),
          last: Math.max(...all.map((x) => x.ingest.last)),
          count: sum(all, (x) => x.ingest.count),
        },
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else {
      res.writeHead(404).end();
    }
  });
  control.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${ports[0]} ${control.address().port}\n`));
  process.on('SIGTERM', () => {
    for (const w of workers) w.process.kill('SIGTERM');
    process.exit(0);
  });
}
