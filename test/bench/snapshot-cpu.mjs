// What a plain handshake (no `?since=`) costs the server in CPU while the snapshot holds 10,000 keys:
// 300 handshakes one after another (each client reads its snapshot and closes), once with no traffic
// and once with 200 messages per second flowing, which change the snapshot between handshakes.
// The server and the clients share this process: both runs include the same client work.
//
// Run: npx tsc -p tsconfig.json && node test/bench/snapshot-cpu.mjs [--dist DIR] [--handshakes 300]
import { once } from 'node:events';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';

const { values: args } = parseArgs({
  options: {
    dist: { type: 'string', default: new URL('../../dist', import.meta.url).pathname },
    handshakes: { type: 'string', default: '300' },
    keys: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '200' },
  },
});
const HANDSHAKES = Number(args.handshakes);
const KEYS = Number(args.keys);
const RATE = Number(args.rate);
const dist = pathToFileURL(`${args.dist.replace(/\/$/, '')}/`);
const { attachSystemStream, createInProcessBus } = await import(new URL('index.js', dist).href);

const bus = createInProcessBus();
const server = http.createServer();
// Staleness off: 10,000 sources seen once would add a stale packet each to every snapshot.
const stream = attachSystemStream(server, {
  redis: bus,
  channel: 'bench',
  auth: false,
  throttleMs: 0,
  historyMs: 0,
  staleAfterIntervals: 0,
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
await stream.ready;
const { port } = server.address();

const metric = (i, value) => ({
  type: 'system_metric',
  data: { time: new Date().toISOString(), metric_type: 'cpu', value, source: `host-${i}`, meta: { unit: 'percent' } },
});
for (let i = 0; i < KEYS; i += 100) {
  await bus.publish('bench', JSON.stringify(Array.from({ length: 100 }, (_, j) => metric(i + j, 1))));
}
while (stream.snapshot().length < KEYS) await new Promise((resolve) => setTimeout(resolve, 10));

function handshake() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/system/ws`, { skipUTF8Validation: true });
    ws.on('message', (data) => {
      if (data.length < 200 && data.toString().startsWith('{"type":"snapshot_end"')) {
        ws.terminate();
        resolve();
      }
    });
    ws.on('error', reject);
  });
}

async function run(withTraffic) {
  let n = 0;
  const traffic = withTraffic
    ? setInterval(() => {
        // RATE per second in 10 ms steps
        for (let k = 0; k < RATE / 100; k++) void bus.publish('bench', JSON.stringify(metric(n++ % KEYS, n)));
      }, 10)
    : undefined;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < HANDSHAKES; i++) await handshake();
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  clearInterval(traffic);
  return { cpuMs: (used.user + used.system) / 1000, elapsed, messages: n };
}

await run(false); // warm-up
const quiet = await run(false);
const busy = await run(true);
// The traffic alone, for as long as the busy run took, so that its own cost can be subtracted.
const trafficOnly = await new Promise((resolve) => {
  let n = 0;
  const cpu = process.cpuUsage();
  const t = setInterval(() => {
    for (let k = 0; k < RATE / 100; k++) void bus.publish('bench', JSON.stringify(metric(n++ % KEYS, n)));
  }, 10);
  setTimeout(() => {
    clearInterval(t);
    const used = process.cpuUsage(cpu);
    resolve({ cpuMs: (used.user + used.system) / 1000 });
  }, busy.elapsed);
});
const f = (x) => x.toFixed(0);
console.log(`${HANDSHAKES} plain handshakes, snapshot of ${KEYS.toLocaleString('en-US')} keys`);
console.log(
  `no traffic: ${f(quiet.cpuMs)} ms CPU (${(quiet.cpuMs / HANDSHAKES).toFixed(2)} ms per handshake), ${f(quiet.elapsed)} ms wall`,
);
console.log(
  `${RATE} msg/s flowing: ${f(busy.cpuMs)} ms CPU, of which the traffic alone ~${f(trafficOnly.cpuMs)} ms: ` +
    `${((busy.cpuMs - trafficOnly.cpuMs) / HANDSHAKES).toFixed(2)} ms per handshake (${((busy.cpuMs - trafficOnly.cpuMs) / quiet.cpuMs).toFixed(2)}x the quiet run), ${f(busy.elapsed)} ms wall`,
);
await stream.close();
server.close();
