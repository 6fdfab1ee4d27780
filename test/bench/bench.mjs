// `npm run bench [-- --quick] [-- --only NAME (a part of it; NAME$ for exactly it)] [-- --repeat N] [-- --metrics-compare] [-- --before DIST] [-- --profile DIR]`: runs each scenario against the library and the bare
// `ws` baseline (with --metrics-compare: the library with `metrics: true` instead of the baseline), alternating, with the server, the load generator and the publisher as separate processes
// on this machine, and prints a markdown table. Starts its own redis-server on a free port.
import { fork as forkProcess, spawn as spawnProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    'metrics-compare': { type: 'boolean', default: false },
    // The compression scenarios: the library without and with `compression: true`, and ws's per-connection deflate.
    'compression-compare': { type: 'boolean', default: false },
    profile: { type: 'string' },
    // --before DIR: a third implementation, the library built in DIR (a copy of an earlier `dist`), in the same alternating runs.
    before: { type: 'string' },
  },
});
const here = new URL('.', import.meta.url).pathname;

// Every process this run starts, so that an interrupted run stops them too instead of leaving them to load
// the machine under the next run.
const running = new Set();
const track = (proc) => {
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  return proc;
};
const spawn = (...args) => track(spawnProcess(...args));
const fork = (...args) => track(forkProcess(...args));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const proc of running) proc.kill('SIGKILL');
    process.exit(130);
  });
}

const FULL = [
  // The original design's case. One run's p99 is its worst ~1 message in 100 and swings by ±20 %: 5 alternating runs, and their medians.
  { name: '100 clients, 10 msg/s', clients: 100, rate: 10, seconds: 20, repeat: 5 },
  { name: '1,000 clients, 50 msg/s', clients: 1000, rate: 50, seconds: 20 },
  { name: '5,000 clients, 20 msg/s', clients: 5000, rate: 20, seconds: 20 },
  { name: 'burst: 100 clients, 5,000 msgs back-to-back (100 keys)', clients: 100, burst: 5000, keys: 100 },
  // The transport's own floor under the same burst: one client, so fan-out costs nothing.
  { name: 'burst floor: 1 client, 5,000 msgs back-to-back (100 keys)', clients: 1, burst: 5000, keys: 100 },
  { name: 'idle: 5,000 clients', clients: 5000, idle: true },
  { name: '10,000 clients, 10 msg/s', clients: 10000, rate: 10, seconds: 10 },
  // Past what one process delivers: deliveries/s with one and with two worker processes (node:cluster, as
  // example/cluster.ts runs them). The load generator shares the same 2 cores.
  { name: '10,000 clients, 30 msg/s, 1 worker', clients: 10000, rate: 30, seconds: 10, workers: 1 },
  { name: '10,000 clients, 30 msg/s, 2 workers', clients: 10000, rate: 30, seconds: 10, workers: 2 },
  // writeDelayMs: the library collects for this long and writes each client once per window.
  { name: '1,000 clients, 50 msg/s, writeDelayMs 20', clients: 1000, rate: 50, seconds: 20, writeDelayMs: 20 },
  { name: '1,000 clients, 50 msg/s, writeDelayMs 50', clients: 1000, rate: 50, seconds: 20, writeDelayMs: 50 },
  { name: '1,000 clients, 50 msg/s, writeDelayMs 100', clients: 1000, rate: 50, seconds: 20, writeDelayMs: 100 },
  // Per-client filters: the same traffic from 100 hosts (sources h0…h99); filtered clients each ask for
  // one host (`?source=hN`, 10 clients per filter), so each receives 1/100 of it. Against the same load
  // to unfiltered clients.
  { name: '1,000 unfiltered clients, 50 msg/s (100 sources)', clients: 1000, rate: 50, seconds: 20, sources: 100 },
  { name: '1,000 clients, 100 distinct filters, 50 msg/s', clients: 1000, rate: 50, seconds: 20, sources: 100, filters: 100 },
];
const DEBUG = [
  { name: 'burst1: 1 client, 2,000 msgs', clients: 1, burst: 2000, keys: 100 },
  { name: 'burst100: 100 clients, 2,000 msgs', clients: 100, burst: 2000, keys: 100 },
];
const QUICK = [
  { name: '100 clients, 10 msg/s', clients: 100, rate: 10, seconds: 4 },
  { name: '1,000 clients, 50 msg/s', clients: 1000, rate: 50, seconds: 4 },
  { name: 'burst: 100 clients, 2,000 msgs back-to-back (100 keys)', clients: 100, burst: 2000, keys: 100 },
  { name: 'idle: 1,000 clients', clients: 1000, idle: true },
];
// Every client offers permessage-deflate, as browsers do (ws's client offers it by default).
const COMPRESSION = [
  { name: '1,000 clients, 50 msg/s, deflate offered', clients: 1000, rate: 50, seconds: 20 },
  // A fleet: 100 hosts publishing 20 envelopes a second each, watched by 100 dashboards.
  // 2,000 values a second per dashboard: over the default per-client cap of 1,000, raised so that nothing is conflated.
  {
    name: 'sentinel shape: 100 hosts x 20 envelopes/s, 100 dashboards',
    clients: 100,
    rate: 2000,
    seconds: 20,
    keys: 2000,
    sources: 100,
    maxMessagesPerSecond: 5000,
  },
  { name: 'idle: 1,000 clients, deflate offered', clients: 1000, idle: true },
];
const CLIENTS_PER_PROCESS = 5000;

async function freePort() {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}

async function startRedis() {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10_000);
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('error', reject);
  });
  return { url: `redis://127.0.0.1:${port}`, proc };
}

async function startServer(
  impl,
  redisUrl,
  channel,
  maxClients,
  { writeDelayMs = 0, workers = 1, maxMessagesPerSecond },
  profileName = impl,
) {
  // BENCH_SERVER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles each server's whole run; --profile DIR only its measured part.
  const flags = (process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean);
  const implArgs = [
    ...(impl === 'lib+metrics'
      ? ['--impl', 'lib', '--metrics']
      : impl === 'lib+deflate'
        ? ['--impl', 'lib', '--compression']
        : impl === 'before'
          ? ['--impl', 'lib', '--dist', args.before]
          : ['--impl', impl]),
    '--write-delay-ms',
    String(writeDelayMs),
  ];
  // --profile DIR: a CPU profile of each server's measured part, DIR/<scenario>-<impl>-<round>.cpuprofile (see profile-summary.mjs).
  if (args.profile) implArgs.push('--profile-to', `${args.profile}/${profileName}.cpuprofile`);
  implArgs.push('--workers', String(workers));
  if (maxMessagesPerSecond !== undefined) implArgs.push('--max-messages-per-second', String(maxMessagesPerSecond));
  const proc = spawn(
    process.execPath,
    [
      ...flags,
      '--expose-gc',
      `${here}server.mjs`,
      ...implArgs,
      '--redis',
      redisUrl,
      '--channel',
      channel,
      '--max-clients',
      String(maxClients),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // `READY <port>`, or with workers `READY <port> <port of the primary's /bench routes>`.
  const [port, controlPort] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 10_000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /READY (\d+)(?: (\d+))?\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve([Number(m[1]), Number(m[2] ?? m[1])]);
      }
    });
  });
  // A fresh connection per call: polled every 100 ms, a kept-alive one can be closed by the server just as it is reused (ECONNRESET).
  const stats = async () => (await fetch(`http://127.0.0.1:${controlPort}/bench/stats`, { headers: { connection: 'close' } })).json();
  const resetIngest = () => fetch(`http://127.0.0.1:${controlPort}/bench/ingest-reset`);
  return { proc, port, stats, resetIngest };
}

function onceMessage(child, kind) {
  return new Promise((resolve) => {
    const handler = (msg) => {
      if (msg.kind === kind) {
        child.off('message', handler);
        resolve(msg);
      }
    };
    child.on('message', handler);
  });
}

/** Waits until no client has received a frame for 500 ms (at most 60 s): a queueing server may still be delivering the warm-up. */
async function quiet(groups) {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const idle = await Promise.all(groups.map((c) => (c.send({ kind: 'idle-for' }), onceMessage(c, 'idle-for'))));
    if (idle.every((r) => r.ms > 500)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Waits until the server has taken in `count` messages since its last ingest reset (at most 60 s). A publisher
 * is done when Redis has its messages, not when the server has: without this, a server still working through
 * a burst, with nothing delivered yet, looks quiet, and its backlog lands in the measured part.
 */
async function received(server, count) {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline && (await server.stats()).ingest.count < count) await new Promise((r) => setTimeout(r, 100));
}

async function runOnce(scenario, impl, redisUrl, round) {
  const channel = `bench:${impl}:${round}:${Date.now()}`;
  const profileName = `${scenario.name.replace(/[^a-z0-9]+/gi, '-')}-${impl}-${round}`;
  const server = await startServer(impl, redisUrl, channel, scenario.clients + 100, scenario, profileName);
  const children = [server.proc];
  try {
    const before = await server.stats();
    const url = `ws://127.0.0.1:${server.port}/api/system/ws?api_key=bench-key`;
    const groups = [];
    for (let left = scenario.clients; left > 0; left -= CLIENTS_PER_PROCESS) {
      const n = Math.min(left, CLIENTS_PER_PROCESS);
      const offset = String(scenario.clients - left);
      const filterArgs = ['--filters', String(scenario.filters ?? 0), '--offset', offset];
      const child = fork(
        `${here}clients.mjs`,
        [
          '--url',
          url,
          '--n',
          String(n),
          '--track',
          scenario.burst ? 'final' : 'none',
          ...filterArgs,
          // Latency from one client in 10 (spread over the connection order); every client counts its frames.
          ...(args['compression-compare'] ? ['--deflate', '--sample', '10'] : []),
        ],
        { stdio: 'inherit' },
      );
      children.push(child);
      groups.push(child);
    }
    const connected = await Promise.all(groups.map((c) => onceMessage(c, 'connected')));
    const opened = connected.reduce((a, c) => a + c.opened, 0);
    const connectMs = Math.max(...connected.map((c) => c.ms));
    const result = { scenario: scenario.name, impl, opened, connectMs };

    if (scenario.idle) {
      await new Promise((r) => setTimeout(r, 1000));
      const after = await server.stats();
      result.kbPerConnection = (after.mem.rss - before.mem.rss) / 1024 / opened;
      result.heapKbPerConnection = (after.mem.heapUsed + after.mem.external - before.mem.heapUsed - before.mem.external) / 1024 / opened;
      result.peakRssMb = after.maxRssKb / 1024;
      return result;
    }

    // Warm-up, the same for both: a fresh server's first thousand messages run unoptimized code
    // (ajv, RxJS, ws), which would otherwise show up as the first scenario's latency.
    // About 200,000 deliveries, whatever the number of clients.
    const warmMessages = Math.max(20, Math.min(2000, Math.round(200_000 / opened)));
    const sourceArgs = ['--sources', String(scenario.sources ?? 0)];
    const warm = fork(
      `${here}publisher.mjs`,
      [
        '--redis',
        redisUrl,
        '--channel',
        channel,
        '--burst',
        String(warmMessages),
        '--keys',
        '100',
        '--metric-type',
        'warmup',
        ...sourceArgs,
      ],
      { stdio: 'inherit' },
    );
    children.push(warm);
    await onceMessage(warm, 'done');
    await received(server, warmMessages * (scenario.workers ?? 1));
    await quiet(groups);

    const keys = scenario.keys ?? 1000;
    const finalSeq = scenario.burst ? Array.from({ length: keys }, (_, i) => [`b${i}`, scenario.burst - keys + i]) : [];
    await Promise.all(groups.map((c) => (c.send({ kind: 'reset', finalSeq }), onceMessage(c, 'reset-done'))));
    await server.resetIngest();
    const s1 = await server.stats();
    const started = performance.now();
    const startedUs = Number(process.hrtime.bigint() / 1000n); // the clock of the clients' timestamps
    const publisher = fork(
      `${here}publisher.mjs`,
      [
        '--redis',
        redisUrl,
        '--channel',
        channel,
        '--rate',
        String(scenario.rate ?? 0),
        '--seconds',
        String(scenario.seconds ?? 0),
        '--burst',
        String(scenario.burst ?? 0),
        '--keys',
        String(keys),
        ...sourceArgs,
      ],
      { stdio: 'inherit' },
    );
    children.push(publisher);
    const burstEnd = scenario.burst ? onceMessage(publisher, 'burst-end') : null;
    const { published } = await onceMessage(publisher, 'done');
    const publishMs = performance.now() - started;
    await received(server, published * (scenario.workers ?? 1));
    await new Promise((r) => setTimeout(r, 1000));
    await quiet(groups); // let the last deliveries land: a queueing server may take seconds
    const s2 = await server.stats();
    const reports = await Promise.all(groups.map((c) => (c.send({ kind: 'report' }), onceMessage(c, 'report'))));
    const delivered = reports.reduce((a, r) => a + r.delivered, 0);
    const cpuUs = s2.cpu.user + s2.cpu.system - s1.cpu.user - s1.cpu.system;
    Object.assign(result, {
      published,
      delivered,
      outOfOrder: reports.reduce((a, r) => a + r.outOfOrder, 0),
      loadGeneratorCpuPct: (100 * reports.reduce((a, r) => a + r.cpuUs, 0)) / ((performance.now() - started) * 1000),
      // A filtered client receives the messages of its one source: 1/filters of them (published is a multiple of it).
      expected: scenario.filters ? (published * opened) / scenario.filters : published * opened,
      // Percentiles are per load-generator process; with several, the worst is reported.
      p50: Math.max(...reports.map((r) => r.p50)),
      p90: Math.max(...reports.map((r) => r.p90)),
      p99: Math.max(...reports.map((r) => r.p99)),
      max: Math.max(...reports.map((r) => r.max)),
      // Over the time from the first publish to the last delivery: a server that falls behind delivers after the publisher is done.
      deliveriesPerSec: delivered / (Math.max(publishMs, (Math.max(...reports.map((r) => r.lastFrameUs)) - startedUs) / 1000) / 1000),
      cpuUsPerDelivery: cpuUs / delivered,
      bytesPerDelivery: (s2.bytesOut - s1.bytesOut) / delivered,
      kernelUsPerDelivery: (s2.cpu.system - s1.cpu.system) / delivered,
      // The library's own counters over the measured part (the baseline has none).
      ...(s2.stream
        ? {
            conflated: s2.stream.conflated - s1.stream.conflated,
            throttled: s2.stream.throttled - s1.stream.throttled,
            received: s2.stream.received - s1.stream.received,
          }
        : {}),
      peakRssMb: s2.maxRssKb / 1024,
      closed: reports.reduce((a, r) => a + r.closed, 0),
    });
    if (burstEnd) {
      const { atUs } = await burstEnd;
      const finals = reports.reduce((a, r) => a + r.finalArrivals, 0);
      result.finalValues = `${finals}/${keys * opened}`;
      const last = Math.max(...reports.map((r) => r.lastFinalArrivalUs ?? NaN));
      result.lastFinalAfterBurstMs = (last - atUs) / 1000;
      // The burst is over for the server only when the last message has reached it.
      result.lastFinalAfterIngestMs = (last - s2.ingest.last) / 1000;
      result.rssGrowthMb = (s2.mem.rss - s1.mem.rss) / 1024 / 1024;
      result.ingestMs = (s2.ingest.last - s2.ingest.first) / 1000;
      result.ingestStartMs = (s2.ingest.first - atUs) / 1000;
    }
    return result;
  } finally {
    for (const child of children) if (child.connected) child.send({ kind: 'exit' });
    const serverExited = once(server.proc, 'exit');
    server.proc.kill('SIGTERM'); // lets --cpu-prof write its profile
    await Promise.race([serverExited, new Promise((r) => setTimeout(r, 3000))]);
    for (const child of children) child.kill('SIGKILL');
  }
}

const fmt = (v, digits = 1) => (v === undefined || Number.isNaN(v) ? '' : typeof v === 'number' ? v.toFixed(digits) : String(v));

const scenarios = (process.env.BENCH_DEBUG ? DEBUG : args['compression-compare'] ? COMPRESSION : args.quick ? QUICK : FULL).filter(
  (s) => !args.only || (args.only.endsWith('$') ? s.name === args.only.slice(0, -1) : s.name.includes(args.only)),
);
const redis = await startRedis();
const results = [];
try {
  for (const scenario of scenarios) {
    const rounds = Number(args.repeat) > 1 ? Number(args.repeat) : (scenario.repeat ?? 1);
    for (let round = 0; round < rounds; round++) {
      const compared = args['metrics-compare']
        ? ['lib', 'lib+metrics']
        : args['compression-compare']
          ? ['lib', 'lib+deflate', 'bare-deflate']
          : ['lib', 'bare'];
      const impls = [...compared, ...(args.before ? ['before'] : [])];
      // Each round starts with another implementation, so none always runs first (or last).
      for (const impl of [...impls.slice(round % impls.length), ...impls.slice(0, round % impls.length)]) {
        const r = await runOnce(scenario, impl, redis.url, round);
        results.push(r);
        process.stderr.write(`${JSON.stringify(r)}\n`);
      }
    }
  }
} finally {
  redis.proc.kill('SIGKILL');
}

console.log(
  `\nNode ${process.version}, ${(await import('node:os')).cpus().length} CPUs (${(await import('node:os')).cpus()[0].model}); lib = system-stream with defaults (maxClients raised), ${args['metrics-compare'] ? 'lib+metrics = the same with `metrics: true` (prom-client)' : args['compression-compare'] ? "lib+deflate = the same with `compression: true`; bare-deflate = ws broadcast with ws's per-connection permessage-deflate (threshold 0); every client offers permessage-deflate" : 'bare = ws broadcast of one Buffer per message'}\n`,
);
console.log(
  '| scenario | impl | clients | delivered / expected | p50 ms | p90 ms | p99 ms | max ms | deliveries/s | server CPU µs/delivery | bytes/delivery | peak RSS MB | notes |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const notes = [];
  if (r.connectMs !== undefined) notes.push(`connected in ${fmt(r.connectMs / 1000, 2)} s`);
  if (r.kbPerConnection !== undefined)
    notes.push(`${fmt(r.kbPerConnection, 2)} KB RSS/conn (heap+external ${fmt(r.heapKbPerConnection, 2)} KB)`);
  if (r.finalValues) {
    notes.push(
      `final value of every key: ${r.finalValues}, the last ${fmt(r.lastFinalAfterBurstMs, 0)} ms after the publisher finished, ` +
        `${fmt(r.lastFinalAfterIngestMs, 0)} ms after the server received the last message (server took ${fmt(r.ingestMs, 0)} ms to take it in); RSS +${fmt(r.rssGrowthMb, 1)} MB`,
    );
  }
  if (r.closed) notes.push(`${r.closed} closed`);
  if (r.outOfOrder) notes.push(`${r.outOfOrder} out of order`);
  if (r.loadGeneratorCpuPct !== undefined) notes.push(`load generator ${fmt(r.loadGeneratorCpuPct, 0)} % of a core`);
  const pct = r.expected ? ` (${fmt((100 * r.delivered) / r.expected, 1)} %)` : '';
  console.log(
    `| ${r.scenario} | ${r.impl} | ${r.opened} | ${r.expected ? `${r.delivered} / ${r.expected}${pct}` : ''} | ${fmt(r.p50, 2)} | ${fmt(r.p90, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.max, 1)} | ${fmt(r.deliveriesPerSec, 0)} | ${fmt(r.cpuUsPerDelivery, 2)} | ${fmt(r.bytesPerDelivery, 1)} | ${fmt(r.peakRssMb, 0)} | ${notes.join('; ')} |`,
  );
}

// For each scenario run more than once (--repeat N, or its own `repeat`): the median p99 and the median CPU per
// delivery of each implementation over its alternating runs, and each one's ratio to the baseline.
const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const repeated = [...new Set(results.filter((r) => r.p99 !== undefined).map((r) => r.scenario))].filter(
  (name) => results.filter((r) => r.scenario === name && r.impl === 'lib').length > 1,
);
if (repeated.length > 0) {
  const baseline = args['metrics-compare'] || args['compression-compare'] ? 'lib' : 'bare';
  console.log('\nMedians of the alternating runs per implementation\n');
  console.log(`| scenario | impl | p99 ms (each run) | median p99 ms | median CPU µs/delivery | ÷ ${baseline}: p99, CPU |`);
  console.log('|---|---|---|---|---|---|');
  for (const name of repeated) {
    const byImpl = new Map();
    for (const r of results.filter((x) => x.scenario === name)) byImpl.set(r.impl, [...(byImpl.get(r.impl) ?? []), r]);
    const med = (impl, key) => median(byImpl.get(impl).map((r) => r[key]));
    for (const [impl, runs] of byImpl) {
      const ratio =
        impl !== baseline && byImpl.has(baseline)
          ? `${fmt(med(impl, 'p99') / med(baseline, 'p99'), 2)}×, ${fmt(med(impl, 'cpuUsPerDelivery') / med(baseline, 'cpuUsPerDelivery'), 2)}×`
          : '';
      console.log(
        `| ${name} | ${impl} | ${runs.map((r) => fmt(r.p99, 2)).join(', ')} | ${fmt(med(impl, 'p99'), 2)} | ${fmt(med(impl, 'cpuUsPerDelivery'), 2)} | ${ratio} |`,
      );
    }
  }
}

// With --compression-compare: each goal's ratio, from the medians over the rounds (one round: its values).
if (args['compression-compare']) {
  console.log('\nCompression against the same library uncompressed (medians over the rounds)\n');
  console.log(
    '| scenario | bytes/delivery ÷ lib | CPU/delivery ÷ lib | p99 lib+deflate vs lib | bare-deflate CPU ÷ lib+deflate CPU | delivered (lib+deflate) | idle memory/conn ÷ lib: RSS, heap+external |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const name of [...new Set(results.map((r) => r.scenario))]) {
    const of = (impl, key) => {
      const values = results.filter((r) => r.scenario === name && r.impl === impl && r[key] !== undefined).map((r) => r[key]);
      return values.length ? median(values) : NaN;
    };
    const delivered = results.filter((r) => r.scenario === name && r.impl === 'lib+deflate' && r.expected);
    const outOfOrder = delivered.reduce((a, r) => a + (r.outOfOrder ?? 0), 0);
    const pct = delivered.length
      ? `${fmt(100 * median(delivered.map((r) => r.delivered / r.expected)), 1)} %, ${outOfOrder ? `${outOfOrder} out of order` : 'in order'}`
      : '';
    console.log(
      `| ${name} | ${fmt(of('lib+deflate', 'bytesPerDelivery') / of('lib', 'bytesPerDelivery'), 3)} | ${fmt(of('lib+deflate', 'cpuUsPerDelivery') / of('lib', 'cpuUsPerDelivery'), 2)} | ${fmt(of('lib+deflate', 'p99'), 2)} vs ${fmt(of('lib', 'p99'), 2)} ms | ${fmt(of('bare-deflate', 'cpuUsPerDelivery') / of('lib+deflate', 'cpuUsPerDelivery'), 1)} | ${pct} | ${fmt(of('lib+deflate', 'kbPerConnection') / of('lib', 'kbPerConnection'), 2)}, ${fmt(of('lib+deflate', 'heapKbPerConnection') / of('lib', 'heapKbPerConnection'), 2)} |`,
    );
  }
}
