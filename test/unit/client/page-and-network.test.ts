// StreamManager and the browser around it: a page hidden for long closes its connection and refills when
// shown again (with jitter); the network's offline/online events stop and restart the attempts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamManager } from '../../../src/client/stream-manager.js';
import type { StreamManagerOptions, StreamStatus } from '../../../src/client/types.js';
import type { Envelope, ServerPacket } from '../../../src/protocol/wire.js';
import { advance, FakeNetwork, FakeSocket, FakeVisibility } from '../../helpers/fake-browser.js';
import { metric } from '../../helpers/fixtures.js';

const URL = 'ws://127.0.0.1:1/api/system/ws';
const MINUTE = 60_000;
const snapshot = (...data: Envelope[]): ServerPacket[] => [...data, { type: 'snapshot_end', data: { count: data.length } }];
const last = (): FakeSocket => FakeSocket.instances.at(-1)!;

let managers: StreamManager[] = [];
let page: FakeVisibility;
let network: FakeNetwork;

function create(options: Partial<StreamManagerOptions> = {}): { manager: StreamManager; states: StreamStatus[] } {
  const fetch = (): Promise<never> => Promise.reject(new TypeError('fetch failed'));
  // No idle check: these tests let hours pass without the server's heartbeats.
  const manager = new StreamManager({
    url: URL,
    WebSocket: FakeSocket,
    jitter: 0,
    idleTimeoutMs: 0,
    fetch,
    visibility: page,
    network,
    random: () => 0.5,
    ...options,
  });
  managers.push(manager);
  const states: StreamStatus[] = [];
  manager.on('state', (status) => states.push(status));
  return { manager, states };
}

/** Connects, opens the socket and completes a snapshot holding `envelopes`. */
function connectLive(manager: StreamManager, ...envelopes: Envelope[]): FakeSocket {
  manager.connect();
  const socket = last();
  socket.open();
  socket.send(snapshot(...envelopes));
  return socket;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: new Date('2026-01-17T04:30:00Z') });
  FakeSocket.instances.length = 0;
  page = new FakeVisibility();
  network = new FakeNetwork();
});

afterEach(async () => {
  await Promise.all(managers.map((m) => m.close()));
  managers = [];
  expect(vi.getTimerCount()).toBe(0);
  expect(page.listenerCount + network.listenerCount).toBe(0); // close() removes every listener
  vi.useRealTimers();
});

describe('StreamManager in a hidden page (option: hiddenTimeoutMs)', () => {
  it('closes the connection normally after 5 minutes hidden: closed, reason hidden, nothing retried', () => {
    const { manager } = create();
    const socket = connectLive(manager);
    page.hide();
    vi.advanceTimersByTime(5 * MINUTE - 1);
    expect(manager.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(socket.closeCalls).toEqual([1000]);
    expect(manager.status).toEqual({ state: 'closed', reason: 'hidden' });
    expect(vi.getTimerCount()).toBe(0);
    expect(advance(60 * MINUTE)).toBe(false);
  });

  it('reconnects when the page is visible again, after a random wait of up to resumeJitterMs, and refills latest()', async () => {
    const { manager, states } = create({ random: () => 0.25 });
    connectLive(manager, metric('cpu', 10));
    page.hide();
    vi.advanceTimersByTime(5 * MINUTE);
    await Promise.resolve(); // the old socket's close event
    page.show();
    expect(manager.status).toEqual({ state: 'reconnecting', nextAttemptAt: Date.now() + 250, reason: 'visible again' });
    expect(advance(249)).toBe(false);
    expect(advance(1)).toBe(true);
    expect(manager.status).toEqual({ state: 'connecting' }); // attempt 0: a pause is not a failure
    last().open();
    last().send(snapshot(metric('cpu', 20)));
    expect([...manager.latest().values()]).toEqual([metric('cpu', 20)]);
    expect(states.map((s) => s.state)).toEqual(['connecting', 'open', 'closed', 'reconnecting', 'connecting', 'open']);
  });

  it('spreads the reconnects of many pages shown at once over resumeJitterMs', () => {
    const waits: number[] = [];
    for (const r of [0, 0.3, 0.6, 0.999]) {
      const { manager } = create({ random: () => r, resumeJitterMs: 2000 });
      connectLive(manager);
    }
    page.hide();
    vi.advanceTimersByTime(5 * MINUTE);
    page.show();
    for (const m of managers) waits.push(m.status.nextAttemptAt! - Date.now());
    expect(waits).toEqual([0, 600, 1200, 1998]);
  });

  it('keeps the connection when the page is shown again before the timeout', () => {
    const { manager } = create({ hiddenTimeoutMs: 1000 });
    const socket = connectLive(manager);
    page.hide();
    vi.advanceTimersByTime(999);
    page.show();
    vi.advanceTimersByTime(10 * MINUTE);
    expect(manager.state).toBe('open');
    expect(socket.closeCalls).toEqual([]);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('counts from when the page was hidden, also for a page that starts hidden (a background tab)', () => {
    page.hide();
    const { manager } = create({ hiddenTimeoutMs: 1000 });
    connectLive(manager);
    vi.advanceTimersByTime(1000);
    expect(manager.status).toEqual({ state: 'closed', reason: 'hidden' });
  });

  it('stops retrying too: a manager reconnecting while hidden stays quiet until shown', () => {
    const { manager } = create({ hiddenTimeoutMs: 3000 });
    manager.connect();
    last().fail(); // retry in 2 s
    page.hide();
    vi.advanceTimersByTime(2000);
    last().fail(); // retry in 5 s, but the page has been hidden 3 s by then
    vi.advanceTimersByTime(1000);
    expect(manager.status).toEqual({ state: 'closed', reason: 'hidden' });
    expect(advance(10 * MINUTE)).toBe(false);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('never closes with hiddenTimeoutMs 0', () => {
    const { manager } = create({ hiddenTimeoutMs: 0 });
    connectLive(manager);
    page.hide();
    vi.advanceTimersByTime(24 * 60 * MINUTE);
    expect(manager.state).toBe('open');
  });

  it('connect() while paused connects at once; close() while paused says closed by the client', () => {
    const { manager } = create({ hiddenTimeoutMs: 1000 });
    connectLive(manager);
    page.hide();
    vi.advanceTimersByTime(1000);
    manager.connect();
    expect(manager.status).toEqual({ state: 'connecting' });
    expect(FakeSocket.instances).toHaveLength(2);
    void manager.close();
    expect(manager.status).toEqual({ state: 'closed', reason: 'closed by the client' });
    page.show();
    expect(advance(MINUTE)).toBe(false); // close() stopped listening to the page
  });

  it('rejects a negative hiddenTimeoutMs or resumeJitterMs', () => {
    expect(() => create({ hiddenTimeoutMs: -1 })).toThrow(/`hiddenTimeoutMs`/);
    expect(() => create({ resumeJitterMs: Number.NaN })).toThrow(/`resumeJitterMs`/);
    managers = [];
  });
});

describe('StreamManager and the network (option: network)', () => {
  it('on online, a reconnecting manager attempts at once instead of waiting out its backoff', () => {
    const { manager } = create();
    manager.connect();
    for (let i = 0; i < 4; i++) {
      last().fail();
      vi.advanceTimersByTime(manager.status.nextAttemptAt! - Date.now());
    }
    last().fail();
    expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 5, nextAttemptAt: Date.now() + 30_000 });
    network.goOnline();
    expect(FakeSocket.instances).toHaveLength(6);
    expect(manager.status).toEqual({ state: 'connecting' });
    last().fail();
    expect(manager.status).toMatchObject({ attempt: 1, nextAttemptAt: Date.now() + 2000 }); // the schedule starts again
  });

  it('on offline, closes its socket and reports reconnecting with reason offline, without a countdown or a failure counted', async () => {
    const { manager } = create();
    const socket = connectLive(manager, metric());
    network.goOffline();
    expect(socket.closeCalls).toEqual([1000]);
    expect(manager.status).toEqual({ state: 'reconnecting', reason: 'offline' });
    expect(vi.getTimerCount()).toBe(0);
    await Promise.resolve(); // its close event changes nothing
    expect(manager.status).toEqual({ state: 'reconnecting', reason: 'offline' });
    expect(advance(60 * MINUTE)).toBe(false);
    expect(manager.latest().size).toBe(1); // the last values stay

    network.goOnline();
    expect(manager.status).toEqual({ state: 'connecting' });
    last().open();
    expect(manager.state).toBe('open');
  });

  it('does not count a drop while the browser is offline as a failure, and waits for online', () => {
    const { manager } = create();
    manager.connect();
    network.onLine = false; // went offline without the event having been handled yet
    last().fail();
    expect(manager.status).toEqual({ state: 'reconnecting', code: 1006, reason: 'offline' });
    expect(vi.getTimerCount()).toBe(0);
    network.goOnline();
    last().fail();
    expect(manager.status).toMatchObject({ state: 'reconnecting', attempt: 1, nextAttemptAt: Date.now() + 2000 });
  });

  it('ignores the network while closed and while open', () => {
    const { manager } = create();
    network.goOffline();
    network.goOnline();
    expect(manager.state).toBe('closed');
    const socket = connectLive(manager);
    network.goOnline();
    expect(manager.state).toBe('open');
    expect(socket.closeCalls).toEqual([]);
  });

  it('stays closed on a refusal even when online fires', () => {
    const { manager } = create();
    manager.connect();
    last().serverClose(4401, 'bad key');
    network.goOnline();
    expect(manager.status).toMatchObject({ state: 'closed', code: 4401 });
    expect(FakeSocket.instances).toHaveLength(1);
  });
});
