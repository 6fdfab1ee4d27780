// Benchmark server: the library (`--impl lib`) or the bare baseline (`--impl bare`: ioredis subscriber +
// ws, one Buffer per message written to every client). Reports its own CPU and memory on GET /bench/stats.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import { attachSystemStream } from '../../dist/index.js';

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string' },
    redis: { type: 'string' },
    channel: { type: 'string' },
    'max-clients': { type: 'string', default: '100' },
    'throttle-ms': { type: 'string' },
    'write-delay-ms': { type: 'string', default: '0' },
    metrics: { type: 'boolean', default: false },
  },
});

// When the server saw the first and the last Redis message, in the publisher's clock (µs).
const ingest = { first: 0, last: 0, count: 0 };
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const sawMessage = () => {
  const now = nowUs();
  if (ingest.count++ === 0) ingest.first = now;
  ingest.last = now;
};

const server = http.createServer((req, res) => {
  if (req.url === '/bench/ingest-reset') {
    ingest.first = ingest.last = ingest.count = 0;
    res.end('{}');
    return;
  }
  if (req.url === '/bench/stats') {
    globalThis.gc?.();
    const body = JSON.stringify({
      cpu: process.cpuUsage(),
      mem: process.memoryUsage(),
      maxRssKb: process.resourceUsage().maxRSS,
      stream: stream?.stats(),
      ingest,
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  res.writeHead(404).end();
});
server.maxConnections = 50_000;

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
  });
  await stream.ready;
  if (args.metrics && stream.metrics === undefined) throw new Error('--metrics given but the stream has no metrics');
  stream.messages$.subscribe(sawMessage);
} else if (args.impl === 'bare') {
  const wss = new WebSocketServer({ server, path: '/api/system/ws', perMessageDeflate: false });
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
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});
// SIGTERM exits through process.exit so that --cpu-prof writes its profile.
process.on('SIGTERM', () => process.exit(0));
