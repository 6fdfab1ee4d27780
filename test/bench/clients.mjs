// Load generator: opens N WebSocket clients and measures publish → client latency from the `t`
// (process.hrtime in µs, a monotonic clock shared by the processes of one machine) in each message.
// Runs as a forked child: reports over IPC.
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    n: { type: 'string' },
    track: { type: 'string', default: 'none' },
    // With --filters F, client number i (counted from --offset across processes) asks for `?source=h<i % F>`.
    filters: { type: 'string', default: '0' },
    offset: { type: 'string', default: '0' },
    deflate: { type: 'boolean', default: false },
  },
});
const n = Number(args.n);
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

let latencies = [];
let delivered = 0;
let snapshots = 0;
let closed = 0;
const closeCodes = {};
// For the burst scenario: when the final value of each key reached each client.
const finalSeq = new Map(); // key -> seq of its last value, set by the orchestrator
const finalArrivals = []; // µs

let lastFrameAt = 0;
// One packet per frame; the frames before a connection's snapshot_end are its snapshot, not live data.
const live = new WeakSet();
function onFrame(data) {
  const now = nowUs();
  lastFrameAt = now;
  const text = data.toString();
  if (!live.has(this)) {
    if (text.startsWith('{"type":"snapshot_end"')) {
      live.add(this);
      snapshots++;
    }
    return;
  }
  let at = text.indexOf('"t":');
  while (at !== -1) {
    const end = text.indexOf(',', at + 4);
    const t = Number(text.slice(at + 4, end));
    latencies.push(now - t);
    delivered++;
    if (args.track === 'final') {
      const k = text.slice(text.indexOf('"k":"', end) + 5, text.indexOf('"', text.indexOf('"k":"', end) + 5));
      const seqAt = text.indexOf('"seq":', end);
      const seq = Number(text.slice(seqAt + 6, text.indexOf(',', seqAt)));
      if (finalSeq.get(k) === seq) finalArrivals.push(now);
    }
    at = text.indexOf('"t":', end);
  }
}

const sockets = [];
let opened = 0;
const started = performance.now();
await new Promise((resolve) => {
  let inFlight = 0;
  let next = 0;
  const pump = () => {
    while (inFlight < 500 && next < n) {
      inFlight++;
      next++;
      const filters = Number(args.filters);
      const url = filters > 0 ? `${args.url}&source=h${(Number(args.offset) + next - 1) % filters}` : args.url;
      // --deflate: offer permessage-deflate, as browsers do (ws's defaults); otherwise offer nothing.
      const ws = new WebSocket(url, { skipUTF8Validation: true, perMessageDeflate: args.deflate });
      sockets.push(ws);
      ws.on('message', onFrame);
      ws.on('error', () => {});
      ws.once('open', () => {
        inFlight--;
        opened++;
        if (opened === n) resolve();
        else pump();
      });
      ws.once('close', (code) => {
        closed++;
        closeCodes[code] = (closeCodes[code] ?? 0) + 1;
        if (ws.readyState !== WebSocket.OPEN && opened + closed >= n && opened < n) resolve();
      });
    }
  };
  pump();
});
process.send({ kind: 'connected', opened, ms: performance.now() - started });

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

process.on('message', (msg) => {
  if (msg.kind === 'idle-for') {
    process.send({ kind: 'idle-for', ms: lastFrameAt === 0 ? Infinity : (nowUs() - lastFrameAt) / 1000 });
  } else if (msg.kind === 'reset') {
    latencies = [];
    delivered = 0;
    finalArrivals.length = 0;
    for (const [k, seq] of msg.finalSeq ?? []) finalSeq.set(k, seq);
    process.send({ kind: 'reset-done' });
  } else if (msg.kind === 'report') {
    const sorted = Float64Array.from(latencies).sort();
    process.send({
      kind: 'report',
      delivered,
      snapshots,
      closed,
      closeCodes,
      p50: percentile(sorted, 50) / 1000,
      p90: percentile(sorted, 90) / 1000,
      p99: percentile(sorted, 99) / 1000,
      max: (sorted[sorted.length - 1] ?? NaN) / 1000,
      lastFinalArrivalUs: finalArrivals.length ? Math.max(...finalArrivals) : null,
      finalArrivals: finalArrivals.length,
      lastFrameUs: lastFrameAt,
    });
  } else if (msg.kind === 'exit') {
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 50);
  }
});
