// Load generator: opens N WebSocket clients and measures publish → client latency from the `t`
// (process.hrtime in µs, a monotonic clock shared by the processes of one machine) in each message.
// Runs as a forked child: reports over IPC.
import { parseArgs } from 'node:util';
import { constants, createInflateRaw } from 'node:zlib';
import { Receiver, WebSocket } from 'ws';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    n: { type: 'string' },
    track: { type: 'string', default: 'none' },
    // With --filters F, client number i (counted from --offset across processes) asks for `?source=h<i % F>`.
    filters: { type: 'string', default: '0' },
    offset: { type: 'string', default: '0' },
    deflate: { type: 'boolean', default: false },
    // With --sample N, client number i (counted from --offset across processes) decodes its frames and
    // measures latency when i % N is 0; the others only count frames (one packet per frame). For compression:
    // 1,000 clients inflating on this machine would load it as much as the server, and a browser inflates on
    // its own machine. Every client still receives, and counts, every frame.
    sample: { type: 'string', default: '1' },
  },
});
const n = Number(args.n);

// With --deflate, inflate on the main thread, as a browser's network stack does per message, instead of
// ws's client default (zlib's thread pool, at most 10 at a time per process): with 1,000 clients in one
// process that queue, not the server, would set the latency. One persistent raw-inflate context per
// connection (the server's compressed stream refers to earlier messages), fed synchronously through the
// zlib handle, as zlib.inflateRawSync does but without closing it. Server frames are never fragmented
// here, so each compressed frame is one whole message.
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const OUT = Buffer.allocUnsafe(64 * 1024); // one output buffer for every inflate: each result is copied out
const inflaters = new WeakMap(); // PerMessageDeflate -> zlib.InflateRaw
function inflateSync(perMessageDeflate, data) {
  let z = inflaters.get(perMessageDeflate);
  if (!z) {
    const windowBits = perMessageDeflate.params.server_max_window_bits;
    z = createInflateRaw({ windowBits: typeof windowBits === 'number' ? windowBits : 15 });
    z.on('error', (error) => {
      throw error;
    });
    inflaters.set(perMessageDeflate, z);
  }
  const input = Buffer.concat([data, TRAILER]);
  const parts = [];
  let inOffset = 0;
  let availIn = input.length;
  for (;;) {
    z._handle.writeSync(constants.Z_SYNC_FLUSH, input, inOffset, availIn, OUT, 0, OUT.length);
    const [availOut, availInAfter] = z._writeState;
    parts.push(Buffer.from(OUT.subarray(0, OUT.length - availOut)));
    inOffset += availIn - availInAfter;
    availIn = availInAfter;
    if (availOut !== 0) break; // all the input is consumed and flushed
  }
  if (perMessageDeflate.params.server_no_context_takeover) z.reset();
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
const COUNT_ONLY = Symbol('count only'); // on the PerMessageDeflate of a connection that is not sampled
if (args.deflate) {
  Receiver.prototype.decompress = function decompress(data, cb) {
    const perMessageDeflate = this._extensions['permessage-deflate'];
    const message = perMessageDeflate[COUNT_ONLY] ? data : inflateSync(perMessageDeflate, data);
    this._messageLength += message.length;
    this._fragments.push(message);
    this.dataMessage(cb); // in state INFLATING: emits the message now and goes on with the next frame
  };
}
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

let latencies = [];
let delivered = 0;
let snapshots = 0;
let closed = 0;
const closeCodes = {};
// For the burst scenario: when the final value of each key reached each client.
const finalSeq = new Map(); // key -> seq of its last value, set by the orchestrator
const finalArrivals = []; // µs
// In order: each connection's `seq`s (one publisher, counting up) only ever go up. Cleared at each reset,
// since the warm-up's publisher counted from 0 too.
let lastSeq = new WeakMap(); // socket -> the last seq it received
let outOfOrder = 0;
let cpuAtReset = process.cpuUsage();

let lastFrameAt = 0;
// One packet per frame; the frames before a connection's snapshot_end are its snapshot, not live data.
const live = new WeakSet();
const countOnly = new WeakSet(); // the connections that are not sampled
function onFrame(data) {
  const now = nowUs();
  lastFrameAt = now;
  if (countOnly.has(this)) {
    delivered++; // zeroed at the reset, after every snapshot has arrived
    return;
  }
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
    const seqAt = text.indexOf('"seq":', end);
    const seq = Number(text.slice(seqAt + 6, text.indexOf(',', seqAt)));
    if (seq <= (lastSeq.get(this) ?? -1)) outOfOrder++;
    lastSeq.set(this, seq);
    if (args.track === 'final') {
      const k = text.slice(text.indexOf('"k":"', end) + 5, text.indexOf('"', text.indexOf('"k":"', end) + 5));
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
      const index = Number(args.offset) + next - 1;
      const url = filters > 0 ? `${args.url}&source=h${index % filters}` : args.url;
      // --deflate: offer permessage-deflate, as browsers do (ws's defaults); otherwise offer nothing.
      const ws = new WebSocket(url, { skipUTF8Validation: true, perMessageDeflate: args.deflate });
      sockets.push(ws);
      ws.on('message', onFrame);
      ws.on('error', () => {});
      ws.once('open', () => {
        if (index % Number(args.sample) !== 0) {
          countOnly.add(ws);
          const perMessageDeflate = ws._extensions['permessage-deflate'];
          if (perMessageDeflate) perMessageDeflate[COUNT_ONLY] = true;
        }
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
    lastSeq = new WeakMap();
    outOfOrder = 0;
    cpuAtReset = process.cpuUsage();
    finalArrivals.length = 0;
    for (const [k, seq] of msg.finalSeq ?? []) finalSeq.set(k, seq);
    process.send({ kind: 'reset-done' });
  } else if (msg.kind === 'report') {
    const sorted = Float64Array.from(latencies).sort();
    process.send({
      kind: 'report',
      delivered,
      outOfOrder,
      cpuUs: ((cpu) => cpu.user + cpu.system)(process.cpuUsage(cpuAtReset)),
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
