// What a server can send a StreamManager that it should not: frames that are not packets, known types
// without their fields, out-of-order markers, snapshots that never end, ever new keys. The manager never
// throws, never grows without bound, and reports each frame it did not use as sent (`discarded`).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_LATEST_KEYS, MAX_STALE_SOURCES } from '../../../src/client/latest-store.js';
import { StreamManager } from '../../../src/client/stream-manager.js';
import type { StreamDiscard, StreamManagerOptions } from '../../../src/client/types.js';
import { MAX_FRAME_CHARS, MAX_SNAPSHOT_PACKETS } from '../../../src/client/ws-connection.js';
import { type Envelope, type ServerPacket, type SystemMetricMessage } from '../../../src/protocol/wire.js';
import { parsePacket } from '../../../src/protocol/parse-packet.js';
import { FakeSocket } from '../../helpers/fake-browser.js';
import { alert, container, metric } from '../../helpers/fixtures.js';

const URL = 'ws://127.0.0.1:1/api/system/ws';
const last = (): FakeSocket => FakeSocket.instances.at(-1)!;
const end = (count: number): ServerPacket => ({ type: 'snapshot_end', data: { count } });
const stale = (source: string): ServerPacket => ({
  type: 'source_status',
  data: { source, status: 'stale', last_seen: '2026-01-17T04:30:00.000Z' },
});

let managers: StreamManager[] = [];

function create(options: Partial<StreamManagerOptions> = {}): { manager: StreamManager; discards: StreamDiscard[]; socket: FakeSocket } {
  const fetch = (): Promise<never> => Promise.reject(new TypeError('fetch failed'));
  const manager = new StreamManager({ url: URL, WebSocket: FakeSocket, jitter: 0, fetch, resume: false, ...options });
  managers.push(manager);
  const discards: StreamDiscard[] = [];
  manager.on('discarded', (d) => discards.push(d));
  manager.connect();
  const socket = last();
  socket.open();
  return { manager, discards, socket };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: new Date('2026-01-17T04:30:00Z') });
  FakeSocket.instances.length = 0;
});

afterEach(async () => {
  await Promise.all(managers.map((m) => m.close()));
  managers = [];
  vi.useRealTimers();
});

/** Known types without their fields, or with a field of the wrong kind. */
const MALFORMED: readonly unknown[] = [
  { type: 'system_metric' },
  { type: 'system_metric', data: null },
  { type: 'system_metric', data: [] },
  { type: 'system_metric', data: { time: 't', metric_type: 'cpu', source: 'h' } }, // no value
  { type: 'system_metric', data: { time: 't', metric_type: 'cpu', source: 'h', value: '1' } },
  { type: 'system_metric', data: { time: 't', metric_type: 'cpu', source: 'h', value: 1, meta: null } },
  { type: 'container_status', data: { container: 'c', status: 'running' } },
  { type: 'alert', data: { level: 'critical', metric_type: 'cpu', source: 'h', value: 1, message: 'm', time: 't' } }, // no threshold
  { type: 'error', data: null },
  { type: 'error' },
  { type: 'status', data: { code: '200', message: 'OK', time: 't' } },
  { type: 'source_status', data: { source: 7, status: 'stale', last_seen: 't' } },
  { type: 'snapshot_end' },
  { type: 'snapshot_end', data: { count: 1, complete: 'yes' } },
  { type: 'snapshot_end', data: { count: 1, since: 5 } },
];

describe('parsePacket', () => {
  it.each(MALFORMED.map((p) => [JSON.stringify(p)]))('throws a TypeError for %s', (text) => {
    expect(() => parsePacket(text)).toThrow(TypeError);
  });

  it('returns well-formed packets of every type, extra fields included, and unknown types as they are', () => {
    const packets: unknown[] = [
      metric(),
      container(),
      alert(),
      end(0),
      { type: 'snapshot_end', data: { count: 2, since: '2026-01-17T04:30:00.000Z', complete: true } },
      { type: 'error', data: { code: 503, message: 'Service Unavailable', reason: 'redis_unavailable', time: 't' } },
      { type: 'status', data: { code: 200, message: 'OK', time: 't' } },
      { type: 'heartbeat' },
      stale('web-1'),
      { type: 'future_type' },
      { type: 'system_metric', data: { time: 't', metric_type: 'cpu', source: 'h', value: 1, extra: [1] } },
    ];
    for (const p of packets) expect(parsePacket(JSON.stringify(p))).toEqual(p);
  });
});

describe('StreamManager against a hostile server', () => {
  it('drops every malformed frame without throwing, reports each with a running count, and keeps working', () => {
    const { manager, discards, socket } = create();
    socket.send(end(0));
    for (const p of MALFORMED) socket.send(p);
    socket.sendRaw('not json {"secret":1');
    socket.sendRaw(new Uint8Array([1, 2, 3]));
    socket.sendRaw(`{"type":"heartbeat","pad":"${'x'.repeat(MAX_FRAME_CHARS)}"}`);
    socket.send(metric('cpu', 1, 'web-1'));
    expect(discards).toHaveLength(MALFORMED.length + 3);
    expect(discards.every((d) => d.reason === 'malformed')).toBe(true);
    expect(discards.map((d) => d.count)).toEqual(discards.map((_, i) => i + 1));
    expect(discards[0]!.detail).toBe('Expected `data` of the right kind in a `system_metric` packet');
    expect(discards.some((d) => d.detail.includes('secret'))).toBe(false); // never the frame itself
    expect(manager.state).toBe('open');
    expect([...manager.latest().keys()]).toEqual(['system_metric:cpu:web-1']);
  });

  it('drops a second snapshot_end instead of wiping latest()', () => {
    const { manager, discards, socket } = create();
    socket.send(metric('cpu', 1, 'a'), end(1), metric('cpu', 2, 'b'));
    socket.send(end(0));
    expect(manager.latest().size).toBe(2);
    expect(discards).toEqual([{ reason: 'out_of_order', detail: 'a second snapshot_end', count: 1 }]);
  });

  it('cuts a snapshot that never ends at MAX_SNAPSHOT_PACKETS: applies what came, passes the rest on live', () => {
    const { manager, discards, socket } = create();
    const snapshots: (readonly Envelope[])[] = [];
    manager.on('snapshot', (s) => snapshots.push(s));
    let live = 0;
    manager.on('system_metric', () => live++);
    const total = MAX_SNAPSHOT_PACKETS + 10;
    const frame = (i: number) =>
      `{"type":"system_metric","data":{"time":"2026-01-17T04:30:00Z","metric_type":"cpu","value":${i},"source":"h${i % 1000}"}}`;
    for (let i = 0; i < total; i++) socket.sendRaw(frame(i));
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]).toHaveLength(MAX_SNAPSHOT_PACKETS);
    expect(discards).toEqual([{ reason: 'snapshot_cut', detail: expect.stringMatching(/^a snapshot over 110000 packets/), count: 1 }]);
    expect(live).toBe(total); // every value passed on: the held ones when cut, then the others as they came
    expect((manager.latest().get('system_metric:cpu:h9') as SystemMetricMessage).data.value).toBe(total - 1);
    // Its late snapshot_end is expected and changes nothing; a further one is out of order.
    socket.send(end(total));
    expect(manager.latest().size).toBe(1000);
    socket.send(end(total));
    expect(discards.map((d) => d.reason)).toEqual(['snapshot_cut', 'out_of_order']);
  });

  it('cuts a snapshot past MAX_SNAPSHOT_CHARS of text long before the packet bound', () => {
    const { discards, socket } = create();
    const big = (i: number) => ({
      ...metric('cpu', i, `h${i}`),
      data: { ...metric('cpu', i, `h${i}`).data, meta: { pad: 'x'.repeat(900_000) } },
    });
    for (let i = 0; i < 50 && discards.length === 0; i++) socket.send(big(i));
    expect(discards).toEqual([{ reason: 'snapshot_cut', detail: expect.stringMatching(/characters$/), count: 1 }]);
  });

  it(`bounds latest() at ${MAX_LATEST_KEYS} keys, forgetting the least recently updated`, () => {
    const { manager, socket } = create();
    socket.send(end(0));
    socket.send(metric('cpu', 0, 'first'));
    for (let i = 0; i < MAX_LATEST_KEYS + 5000; i++) {
      socket.sendRaw(`{"type":"system_metric","data":{"time":"2026-01-17T04:30:00Z","metric_type":"cpu","value":${i},"source":"h${i}"}}`);
    }
    socket.send(metric('cpu', 1, 'first')); // updated again: now the most recent
    const latest = manager.latest();
    expect(latest.size).toBe(MAX_LATEST_KEYS);
    expect(latest.has('system_metric:cpu:first')).toBe(true);
    expect(latest.has('system_metric:cpu:h0')).toBe(false);
    expect(latest.has(`system_metric:cpu:h${MAX_LATEST_KEYS + 4999}`)).toBe(true);
  });

  it(`bounds staleSources() at ${MAX_STALE_SOURCES}, in the snapshot and live`, () => {
    const { manager, socket } = create();
    for (let i = 0; i < MAX_STALE_SOURCES + 10; i++) socket.send(stale(`s${i}`));
    socket.send(end(0));
    expect(manager.staleSources().size).toBe(MAX_STALE_SOURCES);
    expect(manager.staleSources().has('s0')).toBe(false);
    for (let i = 0; i < MAX_STALE_SOURCES + 10; i++) socket.send(stale(`t${i}`));
    expect(manager.staleSources().size).toBe(MAX_STALE_SOURCES);
    expect(manager.staleSources().has(`t${MAX_STALE_SOURCES + 9}`)).toBe(true);
  });
});

describe('a refused handshake in a browser: the check carries source and metric_type', () => {
  it('ends in closed 4400 when the snapshot endpoint refuses the same source and metric_type', async () => {
    const calls: string[] = [];
    const fetch = (url: string) => {
      calls.push(url);
      return Promise.resolve({ status: new globalThis.URL(url).searchParams.has('source') ? 400 : 200 });
    };
    const manager = new StreamManager({ url: `${URL}?source=${'x'.repeat(300)}&metric_type=cpu`, WebSocket: FakeSocket, fetch });
    managers.push(manager);
    manager.connect();
    last().fail();
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    const asked = new globalThis.URL(calls[0]!);
    expect(asked.pathname).toBe('/api/system/snapshot');
    expect(asked.searchParams.get('source')).toBe('x'.repeat(300));
    expect(asked.searchParams.get('metric_type')).toBe('cpu');
    expect(manager.status).toMatchObject({ state: 'closed', code: 4400 });
  });

  it('keeps what a custom check URL names itself', async () => {
    const calls: string[] = [];
    const fetch = (url: string) => (calls.push(url), Promise.resolve({ status: 200 }));
    const manager = new StreamManager({
      url: `${URL}?source=a&source=b`,
      authCheckUrl: '/check?source=mine',
      WebSocket: FakeSocket,
      fetch,
    });
    managers.push(manager);
    manager.connect();
    last().fail();
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    expect(new globalThis.URL(calls[0]!).searchParams.getAll('source')).toEqual(['mine']);
    const other = new StreamManager({ url: `${URL}?source=a&source=b`, WebSocket: FakeSocket, fetch });
    managers.push(other);
    other.connect();
    last().fail();
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    expect(new globalThis.URL(calls[1]!).searchParams.getAll('source')).toEqual(['a', 'b']);
  });
});
