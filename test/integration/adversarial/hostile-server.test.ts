// A hostile server against the client: a raw ws server (not the library) sends a StreamManager in Node
// malformed, oversized, binary, endless and out-of-order packets. The process survives (a throw out of a ws
// handler is an uncaught exception that ends a Node process), memory stays bounded, and the manager reports
// what it dropped through its `discarded` event while it keeps working.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { MAX_LATEST_KEYS } from '../../../src/client/latest-store.js';
import { StreamManager } from '../../../src/client/stream-manager.js';
import type { StreamDiscard } from '../../../src/client/types.js';
import type { WebSocketConstructor } from '../../../src/client/environment.js';
import type { Envelope } from '../../../src/protocol/wire.js';
import { runTs } from '../../helpers/child-process.js';
import { failOnProcessCrash } from '../../helpers/crash-guard.js';
import { heapAfterGc } from '../../helpers/heap.js';

failOnProcessCrash();

const disposers: (() => unknown)[] = [];
afterEach(async () => {
  for (const dispose of disposers.splice(0).reverse()) await dispose();
});

/** A raw ws server on 127.0.0.1 that runs `script` against each connection. */
async function hostileServer(script: (ws: WebSocket) => void): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    script(ws);
  });
  disposers.push(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/api/system/ws`;
}

/** A manager on `url` (no refusal check: the raw server has no snapshot endpoint), with its discards recorded. */
function manager(url: string): {
  manager: StreamManager;
  discards: StreamDiscard[];
  valueSeen(value: number, timeoutMs?: number): Promise<void>;
} {
  const m = new StreamManager({ url, WebSocket: WebSocket as unknown as WebSocketConstructor, authCheckUrl: false });
  disposers.push(() => m.close());
  const discards: StreamDiscard[] = [];
  m.on('discarded', (d) => discards.push(d));
  const seen = new Set<number>();
  const waiters = new Map<number, () => void>();
  m.on('system_metric', (e) => {
    seen.add(e.data.value);
    waiters.get(e.data.value)?.();
  });
  return {
    manager: m,
    discards,
    valueSeen: (value, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (seen.has(value)) return resolve();
        const timer = setTimeout(() => reject(new Error(`value ${value} never arrived`)), timeoutMs);
        waiters.set(value, () => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

const metricJson = (value: number, source = 'web-1', time = '2026-01-17T04:30:00.000Z'): string =>
  JSON.stringify({ type: 'system_metric', data: { time, metric_type: 'cpu', value, source } } satisfies Envelope);
const END = JSON.stringify({ type: 'snapshot_end', data: { count: 0 } });

describe('StreamManager against a hostile server', () => {
  it('survives malformed, binary and oversized frames in its own Node process, and says what it dropped', async () => {
    const url = await hostileServer((ws) => {
      ws.send(END);
      ws.send('{"type":"system_metric"}');
      ws.send('{"type":"error","data":null}');
      ws.send('{"type":"source_status","data":{"source":null}}');
      ws.send('not json');
      ws.send(Buffer.from([1, 2, 3]), { binary: true });
      ws.send(`{"type":"heartbeat","pad":"${'x'.repeat(2 << 20)}"}`);
      ws.send(metricJson(42));
    });
    const child = runTs(new URL('./hostile-client.ts', import.meta.url), { HOSTILE_URL: url });
    disposers.push(() => child.stop());
    await child.waitFor(/metric 42/, 20_000);
    await child.waitFor(/discarded malformed 6/);
    expect(child.child.exitCode).toBe(null);
    expect(child.output()).not.toMatch(/TypeError|Uncaught|state closed/);
    expect(child.output()).toMatch(/state open/);
  });

  it('in-process: reports each kind of bad frame with a running count, and applies the good ones', async () => {
    const url = await hostileServer((ws) => {
      ws.send('{"type":"status","data":{"code":200,"message":"OK","time":"t"}}'); // before anything: harmless
      ws.send(metricJson(1, 'a'));
      ws.send('{"type":"snapshot_end"}'); // malformed: no data
      ws.send(END);
      ws.send(metricJson(2, 'b'));
      ws.send(END); // a second marker: must not wipe latest()
      ws.send('{"type":"alert","data":{"level":"critical"}}');
      ws.send('{"type":"error","data":{"code":503,"message":"x","reason":"redis_unavailable","time":"t"}}');
      ws.send('{"type":"future","data":42}'); // unknown type: ignored silently
      ws.send(metricJson(3, 'c'));
    });
    const { manager: m, discards, valueSeen } = manager(url);
    m.connect();
    await valueSeen(3);
    expect([...m.latest().keys()]).toEqual(['system_metric:cpu:a', 'system_metric:cpu:b', 'system_metric:cpu:c']);
    expect(discards.map((d) => `${d.reason} ${d.count}`)).toEqual(['malformed 1', 'out_of_order 1', 'malformed 2']);
    expect(m.status).toMatchObject({ state: 'degraded', reason: 'redis_unavailable' });
  });

  it('an endless snapshot is cut and an endless stream of new keys stays within the bounds', async () => {
    const FRAMES = 150_000; // past both bounds: 110,000 held for the snapshot, then 20,000 keys in latest()
    const MARK = -1;
    let sent = 0;
    const url = await hostileServer((ws) => {
      // Never a snapshot_end: every frame a new key. Written as the socket drains, so that the server's own
      // buffers do not count in this process's memory.
      const pump = (): void => {
        while (sent < FRAMES && ws.bufferedAmount < 1 << 20) ws.send(metricJson(sent, `host-${sent++}`));
        if (sent < FRAMES) setTimeout(pump, 1);
        else ws.send(metricJson(MARK, 'last'));
      };
      pump();
    });
    const before = heapAfterGc();
    const { manager: m, discards, valueSeen } = manager(url);
    let snapshots = 0;
    m.on('snapshot', () => snapshots++);
    m.connect();
    await valueSeen(MARK, 120_000);
    const grownMb = (heapAfterGc() - before) / 2 ** 20;
    console.log(
      `hostile server: ${FRAMES} frames without snapshot_end -> latest() ${m.latest().size} keys, heap +${grownMb.toFixed(1)} MB`,
    );
    expect(snapshots).toBe(1);
    expect(discards.map((d) => d.reason)).toEqual(['snapshot_cut']);
    expect(m.latest().size).toBe(MAX_LATEST_KEYS);
    expect(m.latest().has('system_metric:cpu:last')).toBe(true);
    expect(m.state).toBe('open');
    // 20,000 parsed envelopes and the resume tracker's keys (about 15 MB here), and flat however long the
    // stream: a client without bounds held every frame, +30 MB for these 150,000 and +60 MB for 300,000.
    expect(grownMb).toBeLessThan(25);
  }, 180_000);
});
