// Measures what the in-memory history costs per value and per key-minute: fills a HistoryStore the way
// the stream does (a Redis message parsed, its envelope serialized once, the batch recorded, then
// encoded for the clients) and compares the heap after a full gc. Each kind is measured in a process of
// its own, so that one's garbage does not blur the next. Run: npm run compile && node test/bench/history-memory.mjs
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeFrames, envelopeDelivery } from '../../dist/server/fanout/delivery.js';
import { HistoryStore } from '../../dist/server/state/history.js';
import { envelopeKey } from '../../dist/protocol/wire.js';

const KEYS = 100;
const PER_KEY = 300; // 5 minutes at one value per second
const start = Date.now() - PER_KEY * 1000;

const kinds = {
  'system_metric, meta {unit}': (key, i) => ({
    type: 'system_metric',
    data: {
      time: new Date(start + i * 1000).toISOString(),
      metric_type: 'cpu',
      value: Math.round(Math.random() * 10000) / 100,
      source: `host-${key}`,
      meta: { unit: 'percent' },
    },
  }),
  'system_metric, meta of the sentinel (unit, host, cpus)': (key, i) => ({
    type: 'system_metric',
    data: {
      time: new Date(start + i * 1000).toISOString(),
      metric_type: 'load',
      value: Math.round(Math.random() * 400) / 100,
      source: `web-${key}`,
      meta: { unit: 'load', window: '1m', cpus: 8, host: `web-${key}` },
    },
  }),
  container_status: (key, i) => ({
    type: 'container_status',
    data: { container: `service-${key}`, status: i % 2 ? 'running' : 'restarting', time: new Date(start + i * 1000).toISOString() },
  }),
};

function heap() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

function measure(name) {
  const make = kinds[name];
  const store = new HistoryStore({ historyMs: 600_000, maxPerKey: 6000, maxEntries: 1_000_000 });
  let jsonBytes = 0;
  const before = heap();
  for (let i = 0; i < PER_KEY; i++) {
    const batch = [];
    for (let key = 0; key < KEYS; key++) {
      // As the pipeline: bytes from Redis, parsed, serialized once for every client.
      const envelope = JSON.parse(Buffer.from(JSON.stringify(make(key, i))).toString('utf8'));
      const delivery = envelopeDelivery(envelope, envelopeKey(envelope));
      jsonBytes += delivery.json.length;
      batch.push(delivery);
    }
    store.record(batch);
    encodeFrames(batch); // what the fan-out does next when a client is connected
  }
  const after = heap();
  if (store.size !== KEYS * PER_KEY) throw new Error('store lost values');
  return { values: store.size, jsonBytes: jsonBytes / store.size, perValue: (after - before) / store.size };
}

const only = process.argv[2];
if (only !== undefined) {
  process.stdout.write(JSON.stringify(measure(only)));
} else {
  console.log(
    `| envelope | values held | JSON bytes per value | heap bytes per value | per key-minute at 1/s | per key-minute at 20/s (throttle 50 ms) |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const name of Object.keys(kinds)) {
    const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), name], { encoding: 'utf8' }));
    console.log(
      `| ${name} | ${r.values.toLocaleString('en-US')} | ${r.jsonBytes.toFixed(0)} | ${r.perValue.toFixed(0)} | ` +
        `${((r.perValue * 60) / 1024).toFixed(1)} KiB | ${((r.perValue * 1200) / 1024).toFixed(0)} KiB |`,
    );
  }
  console.log(`\nNode ${process.version}; ${KEYS} keys x ${PER_KEY} values each, one process per row.`);
}
