import { from, lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamManager } from '../../../src/client/stream-manager.js';
import type { StreamManagerOptions, StreamStatus } from '../../../src/client/types.js';
import type { Envelope, ServerPacket } from '../../../src/protocol/wire.js';
import { advance, FakeSocket } from '../../helpers/fake-browser.js';
import { alert, container, metric } from '../../helpers/fixtures.js';

const last = (): FakeSocket => FakeSocket.instances.at(-1)!;
const URL = 'ws://127.0.0.1:1/api/system/ws';

/** A connection's snapshot as the server sends it: the envelopes, then the marker. */
const snapshot = (...data: Envelope[]): ServerPacket[] => [...data, { type: 'snapshot_end', data: { count: data.length } }];
const redisDown: ServerPacket = {
  type: 'error',
  data: { code: 503, message: 'Service Unavailable', reason: 'redis_unavailable', time: new Date().toISOString() },
};
const redisUp: ServerPacket = { type: 'status', data: { code: 200, message: 'OK', time: new Date().toISOString() } };

let managers: StreamManager[] = [];

function create(options: Partial<StreamManagerOptions> = {}): { manager: StreamManager; states: StreamStatus[] } {
  // The refusal check's fetch fails as against a server that is down, unless a test says otherwise.
  const fetch = (): Promise<never> => Promise.reject(new TypeError('fetch failed'));
  const manager = new StreamManager({ url: URL, WebSocket: FakeSocket, jitter: 0, fetch, ...options });
  managers.push(manager);
  const states: StreamStatus[] = [];
  manager.on('state', (status) => states.push(status));
  return { manager, states };
}

/** Connects and opens the socket; returns it. */
function connectOpen(manager: StreamManager): FakeSocket {
  manager.connect();
  const socket = last();
  socket.open();
  return socket;
}

/** Connects, opens the socket and completes an empty snapshot: what follows is live. */
function connectLive(manager: StreamManager): FakeSocket {
  const socket = connectOpen(manager);
  socket.send(snapshot());
  return socket;
}

beforeEach(() => {
  // Only timers and Date: microtasks stay real, so the fake socket's close event still arrives.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: new Date('2026-01-17T04:30:00Z') });
  FakeSocket.instances.length = 0;
});

afterEach(async () => {
  await Promise.all(managers.map((m) => m.close()));
  managers = [];
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('StreamManager', () => {
  describe('options', () => {
    it.each([
      [{ backoffMs: [] }, /`backoffMs`/],
      [{ backoffMs: [2000, -1] }, /`backoffMs`/],
      [{ jitter: 1.5 }, /`jitter`.*got 1.5/],
      [{ jitter: Number.NaN }, /`jitter`/],
      [{ stableAfterMs: -5 }, /`stableAfterMs`.*got -5/],
      [{ types: [] }, /`types`/],
      [{ types: ['system_metric', 'nope'] }, /`types`/],
      [{ url: 'ftp://example.com/x' }, /`url`/],
      [{ url: '/api/system/ws' }, /`url`.*got "\/api\/system\/ws"/], // relative, with no page to resolve it against
    ])('rejects %j', (options, message) => {
      expect(() => new StreamManager({ url: URL, WebSocket: FakeSocket, ...(options as object) })).toThrow(message);
    });

    it('needs a WebSocket class where there is no global one (Node 20)', () => {
      vi.stubGlobal('WebSocket', undefined);
      try {
        expect(() => new StreamManager({ url: URL })).toThrow(/`WebSocket`.*ws package/);
      } finally {
        vi.unstubAllGlobals();
      }
    });

    it('uses globalThis.WebSocket by default', () => {
      vi.stubGlobal('WebSocket', FakeSocket);
      try {
        const { manager } = create({ WebSocket: undefined });
        manager.connect();
        expect(FakeSocket.instances).toHaveLength(1);
      } finally {
        vi.unstubAllGlobals();
      }
    });

    it('sends the types as a query parameter, keeping the rest of the URL, and the key in a subprotocol, never in the URL', () => {
      const { manager } = create({ url: `${URL}?x=1`, apiKey: 'k y/é', types: ['system_metric', 'alert'] });
      manager.connect();
      const url = new globalThis.URL(last().url);
      expect(url.pathname).toBe('/api/system/ws');
      expect(url.searchParams.get('x')).toBe('1');
      expect(url.searchParams.get('types')).toBe('system_metric,alert');
      expect(last().url).not.toContain('k%20y');
      expect(url.searchParams.has('api_key')).toBe(false);
      expect(last().protocols).toEqual(['system-stream.v1', `system-stream.key.${Buffer.from('k y/é').toString('base64url')}`]);
    });

    it('offers only the protocol version without a key', () => {
      const { manager } = create();
      manager.connect();
      expect(last().protocols).toEqual(['system-stream.v1']);
    });

    it('gives http(s) URLs the ws(s) scheme', () => {
      const { manager } = create({ url: 'https://example.com/api/system/ws' });
      manager.connect();
      expect(last().url).toBe('wss://example.com/api/system/ws');
    });

    it('does not connect before connect()', () => {
      const { manager } = create();
      expect(manager.state).toBe('closed');
      expect(FakeSocket.instances).toHaveLength(0);
    });
  });

  describe('connection state', () => {
    it('goes connecting → open, and connect() while connected does nothing', () => {
      const { manager, states } = create();
      manager.connect();
      expect(manager.state).toBe('connecting');
      manager.connect();
      last().open();
      manager.connect();
      expect(FakeSocket.instances).toHaveLength(1);
      expect(states).toEqual([{ state: 'connecting' }, { state: 'open' }]);
      expect(manager.status).toEqual({ state: 'open' });
    });

    it('goes open → degraded on a 503 error packet and back to open on the status packet, on the same socket', () => {
      const { manager, states } = create();
      const socket = connectOpen(manager);
      socket.send(snapshot(metric()), redisDown);
      expect(manager.status).toEqual({ state: 'degraded', reason: 'redis_unavailable' });
      socket.send(redisDown); // repeated: no new state event
      socket.send(redisUp);
      expect(manager.state).toBe('open');
      expect(FakeSocket.instances).toHaveLength(1);
      expect(socket.closeCalls).toEqual([]);
      expect(states.map((s) => s.state)).toEqual(['connecting', 'open', 'degraded', 'open']);
    });

    it('ignores a status packet while open', () => {
      const { manager, states } = create();
      connectOpen(manager).send(redisUp);
      expect(states.map((s) => s.state)).toEqual(['connecting', 'open']);
    });

    it('reconnects from degraded when the socket drops', () => {
      const { manager } = create();
      const socket = connectOpen(manager);
      socket.send(redisDown);
      socket.serverClose(1001, 'server shutting down');
      expect(manager.status).toEqual({
        state: 'reconnecting',
        attempt: 1,
        nextAttemptAt: Date.now() + 2000,
        code: 1001,
        reason: 'closed with 1001: server shutting down',
      });
    });

    it.each([4400, 4401, 4403])('stops on terminal close code %i with state closed and a reason', (code) => {
      const { manager, states } = create();
      connectOpen(manager).serverClose(code, 'key revoked');
      expect(manager.status).toEqual({ state: 'closed', code, reason: `closed with ${code}: key revoked` });
      expect(vi.getTimerCount()).toBe(0);
      expect(advance(60_000)).toBe(false);
      expect(states.at(-1)?.state).toBe('closed');
    });

    it.each([1001, 1006, 1011, 1013, 4429, 4500])('retries after close code %i', (code) => {
      const { manager } = create();
      connectOpen(manager).serverClose(code);
      expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 1, code });
      expect(advance(2000)).toBe(true);
      expect(manager.status).toEqual({ state: 'connecting', attempt: 1 });
    });

    it.each([
      [400, 4400],
      [401, 4401],
      [403, 4403],
    ])('stops on a handshake that ws (Node) reports as refused with %i', (status, code) => {
      const { manager } = create();
      manager.connect();
      last().fail(`Unexpected server response: ${status}`);
      expect(manager.status).toMatchObject({ state: 'closed', code, reason: `closed with ${code}: Unexpected server response: ${status}` });
    });

    it('retries a handshake that ws reports as refused with 503 (full), with the reason', () => {
      const { manager } = create();
      manager.connect();
      last().fail('Unexpected server response: 503');
      expect(manager.status).toMatchObject({
        state: 'reconnecting',
        code: 1006,
        reason: 'closed with 1006: Unexpected server response: 503',
      });
    });

    it('retries a refused handshake that a browser reports only as 1006', () => {
      const { manager } = create();
      manager.connect();
      last().fail();
      expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 1, code: 1006, reason: 'closed with 1006' });
    });

    it('goes closed with the reason when the WebSocket constructor throws', () => {
      class Throwing {
        constructor() {
          throw new SyntaxError('blocked port');
        }
      }
      const { manager } = create({ WebSocket: Throwing as never });
      manager.connect();
      expect(manager.status).toEqual({ state: 'closed', reason: 'blocked port' });
    });
  });

  describe('reconnect schedule', () => {
    it('with jitter 0 waits exactly 2, 5, 10, 30, 30 s between failed attempts', () => {
      const { manager, states } = create();
      manager.connect();
      const waits: number[] = [];
      for (const expected of [2000, 5000, 10000, 30000, 30000]) {
        const failedAt = Date.now();
        last().fail();
        const status = manager.status;
        waits.push(status.nextAttemptAt! - failedAt);
        expect(advance(expected - 1)).toBe(false);
        expect(advance(1)).toBe(true);
        expect(manager.status).toEqual({ state: 'connecting', attempt: status.attempt });
      }
      expect(waits).toEqual([2000, 5000, 10000, 30000, 30000]);
      expect(states.filter((s) => s.state === 'reconnecting').map((s) => s.attempt)).toEqual([1, 2, 3, 4, 5]);
    });

    it('with jitter spreads each wait within ±jitter, using random()', () => {
      const values = [0, 0.999999, 0.5, 0.25];
      const { manager } = create({ jitter: 0.1, random: () => values.shift()! });
      manager.connect();
      // 2000 − 10 %, 5000 + 10 % (rounded), 10000 exactly, 30000 − 5 %.
      for (const wait of [1800, 5500, 10000, 28500]) {
        last().fail();
        expect(manager.status.nextAttemptAt! - Date.now()).toBe(wait);
        expect(advance(wait - 1)).toBe(false);
        expect(advance(1)).toBe(true);
      }
    });

    it('with the default jitter and Math.random stays within ±10 %', () => {
      const { manager } = create({ jitter: undefined });
      manager.connect();
      for (const base of [2000, 5000, 10000, 30000, 30000, 30000]) {
        last().fail();
        const wait = manager.status.nextAttemptAt! - Date.now();
        expect(wait).toBeGreaterThanOrEqual(base * 0.9);
        expect(wait).toBeLessThanOrEqual(base * 1.1);
        expect(advance(wait)).toBe(true);
      }
    });

    it('counts a drop after a short-lived connection as the next attempt', () => {
      const { manager } = create();
      manager.connect();
      last().fail(); // 2 s
      advance(2000);
      last().fail(); // 5 s
      advance(5000);
      last().open();
      advance(4999); // open, but not for stableAfterMs
      last().serverClose(1006);
      expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 3, nextAttemptAt: Date.now() + 10000 });
    });

    it('starts again at 2 s after a connection stayed open stableAfterMs', () => {
      const { manager } = create();
      manager.connect();
      last().fail();
      advance(2000);
      last().fail();
      advance(5000);
      last().open();
      advance(5000);
      last().serverClose(1006);
      expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 1, nextAttemptAt: Date.now() + 2000 });
      expect(advance(2000)).toBe(true);
      last().fail();
      expect(manager.status).toMatchObject({ attempt: 2, nextAttemptAt: Date.now() + 5000 });
    });

    it('honours a custom stableAfterMs and backoffMs', () => {
      const { manager } = create({ stableAfterMs: 100, backoffMs: [10, 20] });
      manager.connect();
      last().fail();
      expect(manager.status.nextAttemptAt! - Date.now()).toBe(10);
      advance(10);
      last().fail();
      expect(manager.status.nextAttemptAt! - Date.now()).toBe(20);
      advance(20);
      last().open();
      advance(100);
      last().serverClose(1006);
      expect(manager.status.nextAttemptAt! - Date.now()).toBe(10);
    });

    it('connect() while reconnecting attempts at once and cancels the pending wait', () => {
      const { manager } = create();
      manager.connect();
      last().fail();
      manager.connect();
      expect(FakeSocket.instances).toHaveLength(2);
      expect(manager.status).toEqual({ state: 'connecting', attempt: 1 });
      expect(vi.getTimerCount()).toBe(1); // only the new attempt's handshake timeout
    });
  });

  describe('a refused handshake in a browser (option: authCheckUrl)', () => {
    type Call = [string, { method: string; headers: Record<string, string> }];
    const answering =
      (status: number, calls: Call[] = []) =>
      (url: string, init: Call[1]) => {
        calls.push([url, init]);
        return Promise.resolve({ status });
      };
    const settle = (): Promise<void> => new Promise<void>((resolve) => queueMicrotask(resolve));

    it.each([400, 401, 403])('asks the snapshot endpoint with the key after a 1006 before open, and stops on %i', async (status) => {
      const calls: Call[] = [];
      const { manager } = create({ apiKey: 'wrong', fetch: answering(status, calls) });
      manager.connect();
      last().fail();
      expect(manager.state).toBe('reconnecting');
      await settle();
      expect(calls).toEqual([
        ['http://127.0.0.1:1/api/system/snapshot', expect.objectContaining({ method: 'HEAD', headers: { 'x-api-key': 'wrong' } })],
      ]);
      expect(manager.status).toEqual({ state: 'closed', code: 4000 + status, reason: `the server refused the handshake: HTTP ${status}` });
      expect(vi.getTimerCount()).toBe(0);
      expect(advance(60_000)).toBe(false);
    });

    it('keeps retrying when the endpoint accepts the key (the server is full) or cannot be reached (it is down)', async () => {
      const { manager } = create({ fetch: answering(200) });
      manager.connect();
      last().fail();
      await settle();
      expect(manager.state).toBe('reconnecting');
      expect(advance(2000)).toBe(true);
      last().fail();
      await settle();
      expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 2 });
    });

    it('does not ask after a drop of a connection that was open', async () => {
      const calls: Call[] = [];
      const { manager } = create({ fetch: answering(401, calls) });
      connectOpen(manager).serverClose(1006);
      await settle();
      expect(calls).toEqual([]);
      expect(manager.state).toBe('reconnecting');
    });

    it('resolves a custom authCheckUrl against the WebSocket URL and keeps the types; false turns the check off', async () => {
      const calls: Call[] = [];
      const { manager } = create({ authCheckUrl: '/auth/check', fetch: answering(200, calls) });
      manager.connect();
      last().fail();
      await settle();
      expect(calls[0]?.[0]).toBe('http://127.0.0.1:1/auth/check');
      const typed: Call[] = [];
      create({ types: ['alert'], fetch: answering(200, typed) }).manager.connect();
      last().fail();
      await settle();
      expect(typed[0]?.[0]).toBe('http://127.0.0.1:1/api/system/snapshot?types=alert');
      const off: Call[] = [];
      create({ authCheckUrl: false, fetch: answering(401, off) }).manager.connect();
      last().fail();
      await settle();
      expect(off).toEqual([]);
    });
  });

  describe('handshake timeout (option: connectTimeoutMs)', () => {
    it('gives up a handshake that gets no answer within 10 s and retries with backoff', () => {
      const { manager } = create();
      manager.connect();
      const socket = last();
      expect(advance(9_999)).toBe(false);
      expect(manager.state).toBe('connecting');
      advance(1);
      expect(socket.closeCalls).toHaveLength(1);
      expect(manager.status).toMatchObject({
        state: 'reconnecting',
        attempt: 1,
        reason: 'closed with 1006: no handshake answer within 10 s',
      });
      expect(advance(2000)).toBe(true);
    });

    it('does not time out an open connection, and 0 waits forever', () => {
      const { manager } = create();
      connectOpen(manager).send(snapshot());
      advance(20_000);
      expect(manager.state).toBe('open');
      const waiting = create({ connectTimeoutMs: 0 }).manager;
      waiting.connect();
      advance(60_000);
      expect(waiting.state).toBe('connecting');
    });
  });

  describe('idle detection (option: idleTimeoutMs)', () => {
    it('gives up a connection that received nothing for idleTimeoutMs and reconnects with backoff', () => {
      const { manager } = create({ idleTimeoutMs: 75_000 });
      const socket = connectOpen(manager);
      socket.send(snapshot());
      expect(advance(74_999)).toBe(false);
      expect(manager.state).toBe('open');
      advance(1);
      expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 1, code: 1006, reason: 'closed with 1006: no data for 75 s' });
      expect(socket.closeCalls).toHaveLength(1);
      expect(advance(2000)).toBe(true);
      expect(manager.state).toBe('connecting');
    });

    it('stays open while frames arrive, the server heartbeat included', () => {
      const { manager } = create({ idleTimeoutMs: 75_000 });
      const socket = connectOpen(manager);
      for (let i = 0; i < 10; i++) {
        advance(30_000);
        socket.send({ type: 'heartbeat' });
      }
      expect(manager.state).toBe('open');
      expect(FakeSocket.instances).toHaveLength(1);
      // Then silence: gone 75 s after the last heartbeat, not after the first check.
      expect(advance(74_999)).toBe(false);
      expect(manager.state).toBe('open');
      advance(1);
      expect(manager.state).toBe('reconnecting');
    });

    it('ignores the socket it gave up, even if it closes or talks later', () => {
      const { manager, states } = create({ idleTimeoutMs: 1000 });
      const socket = connectOpen(manager);
      advance(1000);
      const count = states.length;
      socket.send(metric());
      socket.serverClose(1000);
      expect(states).toHaveLength(count);
      expect(manager.latest().size).toBe(0);
    });

    it('never checks with idleTimeoutMs 0', () => {
      const { manager } = create({ idleTimeoutMs: 0 });
      connectOpen(manager);
      expect(vi.getTimerCount()).toBe(0);
      advance(10 * 60_000);
      expect(manager.state).toBe('open');
    });

    it('rejects a negative idleTimeoutMs', () => {
      expect(() => create({ idleTimeoutMs: -1 })).toThrow(
        'Expected `idleTimeoutMs` to be an integer from 0 to 2147483647 (milliseconds), got -1',
      );
    });
  });

  describe('close()', () => {
    it('during a pending retry cancels it and never reconnects', async () => {
      const { manager, states } = create();
      manager.connect();
      last().fail();
      expect(vi.getTimerCount()).toBe(1);
      await manager.close();
      expect(manager.status).toEqual({ state: 'closed', reason: 'closed by the client' });
      expect(vi.getTimerCount()).toBe(0);
      expect(advance(120_000)).toBe(false);
      expect(states.at(-1)).toEqual({ state: 'closed', reason: 'closed by the client' });
    });

    it('closes an open socket with 1000 and does not reconnect when it closes', async () => {
      const { manager, states } = create();
      const socket = connectOpen(manager);
      const closed = manager.close();
      expect(manager.state).toBe('closed');
      expect(socket.closeCalls).toEqual([1000]);
      await closed;
      expect(socket.readyState).toBe(3);
      expect(vi.getTimerCount()).toBe(0);
      expect(advance(60_000)).toBe(false);
      expect(states.map((s) => s.state)).toEqual(['connecting', 'open', 'closed']);
    });

    it('closes a socket that is still connecting, and ignores its late events', async () => {
      const { manager, states } = create();
      manager.connect();
      const socket = last();
      const closed = manager.close();
      socket.open(); // a late open of the abandoned socket
      socket.send(snapshot(metric()));
      await closed;
      expect(socket.closeCalls).toEqual([1000]);
      expect(manager.latest().size).toBe(0);
      expect(states.map((s) => s.state)).toEqual(['connecting', 'closed']);
    });

    it('is safe to call twice, and both calls resolve after the socket closed', async () => {
      const { manager } = create();
      const socket = connectOpen(manager);
      const first = manager.close();
      const second = manager.close();
      await Promise.all([first, second]);
      expect(socket.readyState).toBe(3);
      expect(socket.closeCalls).toEqual([1000]);
    });

    it('from a state listener while reconnecting stops the retry', () => {
      const { manager } = create();
      manager.on('state', ({ state }) => {
        if (state === 'reconnecting') void manager.close();
      });
      connectOpen(manager).serverClose(1006);
      expect(manager.state).toBe('closed');
      expect(vi.getTimerCount()).toBe(0);
    });

    it('allows connect() again, starting the schedule at its first wait', async () => {
      const { manager } = create();
      manager.connect();
      last().fail();
      advance(2000);
      last().fail();
      await manager.close();
      manager.connect();
      last().fail();
      expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 1, nextAttemptAt: Date.now() + 2000 });
    });
  });

  describe('latest()', () => {
    it('holds the snapshot, then the latest live envelope per key', () => {
      const { manager } = create();
      const socket = connectOpen(manager);
      const cpu = metric('cpu', 10);
      const mem = metric('memory', 50);
      socket.send(snapshot(cpu, mem, container('db', 'running')));
      socket.send(metric('cpu', 20));
      const latest = manager.latest();
      expect([...latest.keys()]).toEqual(['system_metric:memory:host', 'container_status:db', 'system_metric:cpu:host']);
      expect(latest.get('system_metric:cpu:host')).toMatchObject({ data: { value: 20 } });
      expect(latest.get('system_metric:memory:host')).toEqual(mem);
    });

    it('applies every packet of a burst, one frame each, in order', () => {
      const { manager } = create();
      const socket = connectLive(manager);
      const received: Envelope[] = [];
      manager.subscribe((e) => received.push(e));
      socket.send(metric('cpu', 1), metric('cpu', 2), container('db', 'exited'), metric('disk', 3));
      expect(received.map((e) => e.type)).toEqual(['system_metric', 'system_metric', 'container_status', 'system_metric']);
      expect(manager.latest().get('system_metric:cpu:host')).toMatchObject({ data: { value: 2 } });
      expect(manager.latest().size).toBe(3);
    });

    it('removes a series’ alert when a resolved alert arrives, and still passes the resolved alert on', () => {
      const { manager } = create();
      const socket = connectOpen(manager);
      const alerts: string[] = [];
      manager.on('alert', (a) => alerts.push(a.data.level));
      socket.send(snapshot(alert('critical'), metric()));
      expect(manager.latest().has('alert:cpu:host')).toBe(true);
      socket.send(alert('resolved', 80));
      expect(manager.latest().has('alert:cpu:host')).toBe(false);
      expect(manager.latest().size).toBe(1);
      expect(alerts).toEqual(['critical', 'resolved']);
    });

    it('is replaced, not merged, by the snapshot of the next connection', () => {
      const { manager } = create();
      connectOpen(manager).send(snapshot(metric('cpu'), alert('critical')));
      last().serverClose(1001);
      expect(manager.latest().size).toBe(2); // kept while reconnecting
      advance(2000);
      last().open();
      last().send(snapshot(metric('memory')));
      expect([...manager.latest().keys()]).toEqual(['system_metric:memory:host']);
    });

    it('applies a snapshot only when its snapshot_end arrives, replacing latest() at once', () => {
      const { manager } = create();
      connectOpen(manager).send(snapshot(metric('cpu', 1)));
      last().serverClose(1001);
      advance(2000);
      last().open();
      const seen: string[] = [];
      manager.on('snapshot', (s) => seen.push(`snapshot:${s.length}`));
      manager.subscribe((e) => seen.push(e.type));
      last().send(metric('memory', 2), metric('disk', 3));
      expect(seen).toEqual([]);
      expect([...manager.latest().keys()]).toEqual(['system_metric:cpu:host']); // the old values until the marker
      last().send({ type: 'snapshot_end', data: { count: 2 } });
      expect([...manager.latest().keys()]).toEqual(['system_metric:memory:host', 'system_metric:disk:host']);
      expect(seen).toEqual(['snapshot:2', 'system_metric', 'system_metric']);
    });

    it('returns a copy', () => {
      const { manager } = create();
      connectOpen(manager).send(snapshot(metric()));
      manager.latest().clear();
      expect(manager.latest().size).toBe(1);
    });

    it('ignores frames that are not JSON, binary frames and unknown packet types', () => {
      const { manager } = create();
      const socket = connectLive(manager);
      socket.sendRaw('not json');
      socket.sendRaw(new Uint8Array([1, 2]));
      socket.send({ type: 'future_type', data: {} }, null, metric());
      expect(manager.state).toBe('open');
      expect(manager.latest().size).toBe(1);
    });
  });

  describe('events', () => {
    it('passes each envelope type only to its own listeners, snapshot envelopes included', () => {
      const { manager } = create();
      const seen: string[] = [];
      manager.on('system_metric', (m) => seen.push(`m:${m.data.metric_type}`));
      manager.on('container_status', (c) => seen.push(`c:${c.data.container}`));
      manager.on('alert', (a) => seen.push(`a:${a.data.level}`));
      manager.on('snapshot', (s) => seen.push(`snapshot:${s.length}`));
      const socket = connectOpen(manager);
      socket.send(snapshot(metric('cpu'), container('db')));
      socket.send(alert('warning'), metric('disk'));
      expect(seen).toEqual(['snapshot:2', 'm:cpu', 'c:db', 'a:warning', 'm:disk']);
    });

    it('stops calling a listener after its unsubscribe function is called', () => {
      const { manager } = create();
      const values: number[] = [];
      const off = manager.on('system_metric', (m) => values.push(m.data.value));
      const socket = connectLive(manager);
      socket.send(metric('cpu', 1));
      off();
      socket.send(metric('cpu', 2));
      expect(values).toEqual([1]);
    });

    it('keeps calling the other listeners when one throws, and reports the error asynchronously', () => {
      const reported: unknown[] = [];
      const microtask = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((callback) => {
        try {
          callback();
        } catch (error) {
          reported.push(error);
        }
      });
      try {
        const { manager } = create();
        const values: number[] = [];
        manager.on('system_metric', () => {
          throw new Error('listener bug');
        });
        manager.on('system_metric', (m) => values.push(m.data.value));
        const socket = connectLive(manager);
        socket.send(metric('cpu', 1), metric('cpu', 2));
        expect(values).toEqual([1, 2]);
        expect(reported).toEqual([new Error('listener bug'), new Error('listener bug')]);
      } finally {
        microtask.mockRestore();
      }
    });

    it('stops handling frames when a listener closes the manager', () => {
      const { manager } = create();
      const values: number[] = [];
      manager.on('system_metric', (m) => {
        values.push(m.data.value);
        void manager.close();
      });
      connectLive(manager).send(metric('cpu', 1), metric('cpu', 2));
      expect(values).toEqual([1]);
      expect(manager.latest().size).toBe(1);
    });
  });

  describe('observable interop', () => {
    it('works with RxJS from(manager)', async () => {
      const { manager } = create();
      const socket = connectOpen(manager);
      const result = lastValueFrom(from(manager).pipe(take(3), toArray()));
      socket.send(snapshot(metric('cpu', 1)));
      socket.send(alert('warning'), metric('cpu', 2), metric('cpu', 3));
      const envelopes = await result;
      expect(envelopes.map((e) => e.type)).toEqual(['system_metric', 'alert', 'system_metric']);
    });

    it('stops passing envelopes after unsubscribe(), and from(manager) unsubscribes on take()', () => {
      const { manager } = create();
      const socket = connectLive(manager);
      const seen: Envelope[] = [];
      const subscription = manager.subscribe({ next: (e) => seen.push(e) });
      const viaRx: Envelope[] = [];
      from(manager)
        .pipe(take(1))
        .subscribe((e) => viaRx.push(e));
      socket.send(metric('cpu', 1));
      subscription.unsubscribe();
      socket.send(metric('cpu', 2));
      expect(seen).toHaveLength(1);
      expect(viaRx).toHaveLength(1);
    });

    it('types from(manager) as an Observable of envelopes', () => {
      const { manager } = create();
      const envelopes: Observable<Envelope> = from(manager);
      expect(envelopes).toBeDefined();
    });

    it('is async-iterable: for await yields snapshot and live envelopes, buffered until read', async () => {
      const { manager } = create();
      const socket = connectOpen(manager);
      const iterator = manager[Symbol.asyncIterator]();
      socket.send(snapshot(metric('cpu', 1)));
      socket.send(metric('cpu', 2), alert('warning'));
      const values: string[] = [];
      for await (const envelope of { [Symbol.asyncIterator]: () => iterator }) {
        values.push(envelope.type === 'system_metric' ? `m${envelope.data.value}` : envelope.type);
        if (values.length === 3) break;
      }
      expect(values).toEqual(['m1', 'm2', 'alert']);
      // Leaving the loop unsubscribed: later envelopes are not buffered, and the iterator is done.
      socket.send(metric('cpu', 3));
      expect(await iterator.next()).toEqual({ done: true, value: undefined });
    });

    it('wakes a waiting for-await loop when an envelope arrives', async () => {
      const { manager } = create();
      const socket = connectLive(manager);
      const iterator = manager[Symbol.asyncIterator]();
      const pending = iterator.next();
      socket.send(metric('cpu', 7));
      expect(await pending).toMatchObject({ done: false, value: { data: { value: 7 } } });
      await iterator.return!();
    });

    it("exposes itself through '@@observable'", () => {
      const { manager } = create();
      expect(manager['@@observable']()).toBe(manager);
    });
  });
});
