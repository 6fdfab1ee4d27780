// A storm of `?since=0` handshakes from clients that never read, against a full default history
// (100,000 values): what each such client costs the server in memory, how long the event loop stalls
// meanwhile, and how long a reading client that connects during the storm waits for its backfill.
// The clients are raw TCP sockets that complete the WebSocket handshake and then never read (paused).
//
// Run: npx tsc -p tsconfig.json && node --expose-gc test/bench/handshake-storm.mjs [--clients 50] [--dist DIR]
// (--dist points at another build, e.g. one of an older commit, to compare before and after.)
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    dist: { type: 'string', default: new URL('../../dist', import.meta.url).pathname },
    keys: { type: 'string', default: '1000' },
    values: { type: 'string', default: '100000' },
    settle: { type: 'string', default: '4000' },
  },
});
const CLIENTS = Number(args.clients);
const KEYS = Number(args.keys);
const VALUES = Number(args.values);
const dist = pathToFileURL(`${args.dist.replace(/\/$/, '')}/`);
const { attachSystemStream, createInProcessBus } = await import(new URL('index.js', dist).href);

const gc = globalThis.gc ?? (() => {});
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const bus = createInProcessBus();
const server = http.createServer();
const stream = attachSystemStream(server, {
  redis: bus,
  channel: 'bench',
  auth: false,
  throttleMs: 0,
  maxClients: CLIENTS + 10,
  // The defaults otherwise: maxBufferedBytes 1 MiB, slowClientTimeoutMs 10 s, history 5 min / 100,000 values.
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
await stream.ready;
const { port } = server.address();

// Fill the history: VALUES values over KEYS keys, spread over the last 4 minutes, ~270 bytes each.
const start = Date.now() - 240_000;
let seen = 0;
const all = new Promise((resolve) =>
  stream.messages$.subscribe(() => {
    if (++seen === VALUES) resolve();
  }),
);
const meta = { unit: 'percent', host: 'web-host-name', cpus: 8, note: 'x'.repeat(60) };
for (let i = 0; i < VALUES; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(VALUES, i + 100); j++) {
    batch.push({
      type: 'system_metric',
      data: {
        time: new Date(start + Math.floor((j * 240_000) / VALUES)).toISOString(),
        metric_type: 'cpu',
        value: j % 100,
        source: `host-${j % KEYS}`,
        meta,
      },
    });
  }
  await bus.publish('bench', JSON.stringify(batch));
}
await all;
await sleep(200);

/** A WebSocket handshake on a raw socket that is never read after the 101 (paused: the kernel buffers fill, then the server's). */
function nonReader() {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head.split('\r\n')[0]));
      else resolve(socket);
    };
    socket.on('data', onData);
    socket.write(
      `GET /api/system/ws?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
  });
}

/** A client that reads: resolves with the time to its `snapshot_end` and what it said. */
async function reader() {
  const started = performance.now();
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/system/ws?since=0`, { skipUTF8Validation: true });
  let frames = 0;
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      frames++;
      const text = data.toString();
      if (text.startsWith('{"type":"snapshot_end"')) {
        resolve({ ms: performance.now() - started, frames: frames - 1, end: JSON.parse(text).data });
        ws.close();
      }
    });
    ws.on('error', reject);
  });
}

// The noise floor: the same measure for 3 s with nothing happening (on a busy machine, being descheduled shows as delay too).
const idle = monitorEventLoopDelay({ resolution: 10 });
idle.enable();
await sleep(3000);
idle.disable();

gc();
gc();
const before = process.memoryUsage();
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let peakRss = before.rss;
let peakHeap = before.heapUsed;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
}, 20);

const stormStarted = performance.now();
const sockets = [];
for (let i = 0; i < CLIENTS; i++) sockets.push(nonReader());
const during = reader(); // arrives in the middle of the storm
await Promise.all(sockets);
const connectedMs = performance.now() - stormStarted;
const readerResult = await during;
await sleep(Number(args.settle));
delay.disable();
clearInterval(sampler);
gc();
gc();
const after = process.memoryUsage();

const ms = (ns) => (ns / 1e6).toFixed(0);
console.log(`history: ${VALUES.toLocaleString('en-US')} values over ${KEYS} keys; ${CLIENTS} non-reading ?since=0 clients`);
console.log(`all ${CLIENTS} handshakes answered in ${connectedMs.toFixed(0)} ms`);
console.log(`event-loop delay during the storm: max ${ms(delay.max)} ms, p99 ${ms(delay.percentile(99))} ms, mean ${ms(delay.mean)} ms`);
console.log(`event-loop delay idle before it (noise floor): max ${ms(idle.max)} ms, p99 ${ms(idle.percentile(99))} ms`);
console.log(
  `peak RSS +${mb(peakRss - before.rss)} MB (${mb((peakRss - before.rss) / CLIENTS)} MB per client); peak heap +${mb(peakHeap - before.heapUsed)} MB`,
);
console.log(
  `after ${args.settle} ms: RSS +${mb(after.rss - before.rss)} MB, heap +${mb(after.heapUsed - before.heapUsed)} MB (${mb((after.heapUsed - before.heapUsed) / CLIENTS)} MB per client)`,
);
console.log(
  `a reading client during the storm: snapshot_end after ${readerResult.ms.toFixed(0)} ms, ${readerResult.frames} packets, ${JSON.stringify(readerResult.end)}`,
);
const stats = stream.stats();
console.log(`clients still connected: ${stats.clients}; slow clients closed: ${stats.slowClientsClosed}`);

for (const s of await Promise.all(sockets)) s.destroy();
await stream.close();
server.close();
