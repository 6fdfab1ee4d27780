// One connection for all tabs (option: shareAcrossTabs), with Web Locks and BroadcastChannel stood in for by
// fakes: each "tab" is a StreamManager with its own view of the browser's locks, channels and page.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamManager } from '../../../src/client/stream-manager.js';
import { joinTabs, shareName, type TabHost } from '../../../src/client/tab-share.js';
import type { StreamManagerOptions, StreamStatus } from '../../../src/client/types.js';
import type { Envelope, ServerPacket, SourceStatus } from '../../../src/protocol/wire.js';
import { FakeChannels, FakeLocks, FakeNetwork, FakeSocket, FakeVisibility } from '../../helpers/fake-browser.js';
import { metric } from '../../helpers/fixtures.js';

const URL = 'ws://127.0.0.1:1/api/system/ws';
const snapshot = (...data: Envelope[]): ServerPacket[] => [...data, { type: 'snapshot_end', data: { count: data.length } }];
const stale: SourceStatus = { source: 'web-1', status: 'stale', last_seen: '2026-01-17T04:00:00.000Z' };
const last = (): FakeSocket => FakeSocket.instances.at(-1)!;

let locks: FakeLocks;
let channels: FakeChannels;
let tabs: Tab[];

interface Tab {
  readonly id: string;
  readonly manager: StreamManager;
  readonly page: FakeVisibility;
  readonly states: StreamStatus[];
  readonly envelopes: Envelope[];
  readonly snapshots: (readonly Envelope[])[];
  readonly sources: SourceStatus[];
}

/** Lets the lock grants, channel messages and the dynamic import of tab-share.js happen. */
async function settle(): Promise<void> {
  await vi.dynamicImportSettled();
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Opens a tab: a manager with shareAcrossTabs that sees this tab's navigator.locks and BroadcastChannel. */
async function openTab(options: Partial<StreamManagerOptions> = {}, page = new FakeVisibility()): Promise<Tab> {
  const id = `tab${tabs.length + 1}`;
  vi.stubGlobal('navigator', { locks: locks.forTab(id), onLine: true });
  vi.stubGlobal('BroadcastChannel', channels.forTab(id));
  const manager = new StreamManager({
    url: URL,
    WebSocket: FakeSocket,
    jitter: 0,
    idleTimeoutMs: 0,
    authCheckUrl: false,
    shareAcrossTabs: true,
    visibility: page,
    network: new FakeNetwork(),
    random: () => 0.5,
    ...options,
  });
  const tab: Tab = { id, manager, page, states: [], envelopes: [], snapshots: [], sources: [] };
  manager.on('state', (s) => tab.states.push(s));
  manager.subscribe((e) => tab.envelopes.push(e));
  manager.on('snapshot', (s) => tab.snapshots.push(s));
  manager.on('source_status', (s) => tab.sources.push(s));
  tabs.push(tab);
  manager.connect();
  await settle();
  return tab;
}

/** The browser crashes a tab: its locks and channels are gone (its manager is still closed after the test, to clear its timers). */
function crash(tab: Tab): void {
  locks.crash(tab.id);
  channels.crash(tab.id);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: new Date('2026-01-17T04:30:00Z') });
  FakeSocket.instances.length = 0;
  locks = new FakeLocks();
  channels = new FakeChannels();
  tabs = [];
});

afterEach(async () => {
  await Promise.all(tabs.map((t) => t.manager.close()));
  await settle();
  expect(vi.getTimerCount()).toBe(0);
  expect(channels.openCount).toBe(0);
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('StreamManager with shareAcrossTabs', () => {
  it('opens one WebSocket for two tabs; the other tab receives the same states, snapshot, envelopes and latest()', async () => {
    const a = await openTab();
    const b = await openTab();
    expect(FakeSocket.instances).toHaveLength(1);
    expect(locks.holder()).toBe('tab1');
    last().open();
    last().send(snapshot(metric('cpu', 1)));
    last().send(metric('cpu', 2));
    await settle();
    for (const tab of [a, b]) {
      expect(tab.manager.state).toBe('open');
      expect(tab.states.map((s) => s.state)).toEqual(['connecting', 'open']);
      expect(tab.snapshots).toEqual([[metric('cpu', 1)]]);
      expect(tab.envelopes).toEqual([metric('cpu', 1), metric('cpu', 2)]);
      expect([...tab.manager.latest().values()]).toEqual([metric('cpu', 2)]);
    }
  });

  it('passes stale sources and Redis states to the other tabs', async () => {
    const a = await openTab();
    const b = await openTab();
    last().open();
    last().send(snapshot(), { type: 'source_status', data: stale });
    last().send({
      type: 'error',
      data: { code: 503, message: 'Service Unavailable', reason: 'redis_unavailable', time: new Date().toISOString() },
    });
    await settle();
    for (const tab of [a, b]) {
      expect(tab.sources).toEqual([stale]);
      expect([...tab.manager.staleSources().keys()]).toEqual(['web-1']);
      expect(tab.manager.status).toEqual({ state: 'degraded', reason: 'redis_unavailable' });
    }
  });

  it('gives a tab that joins later the current latest values (as a snapshot), stale sources and state', async () => {
    await openTab();
    last().open();
    last().send(snapshot(metric('cpu', 1), metric('memory', 2)), { type: 'source_status', data: stale });
    last().send(metric('cpu', 3));
    const late = await openTab();
    expect(FakeSocket.instances).toHaveLength(1);
    expect(late.manager.state).toBe('open');
    expect(late.snapshots).toEqual([[metric('memory', 2), metric('cpu', 3)]]);
    expect([...late.manager.latest().values()]).toEqual([metric('memory', 2), metric('cpu', 3)]);
    expect([...late.manager.staleSources().keys()]).toEqual(['web-1']);
    // Only the tab that asked gets the answer: the first tab saw one snapshot, not two.
    expect(tabs[0]!.snapshots).toHaveLength(1);
  });

  it('when the leader tab closes, another takes over at once: a new socket with no backoff wait, and data flows again', async () => {
    const a = await openTab();
    const b = await openTab();
    const first = last();
    first.open();
    first.send(snapshot(metric('cpu', 1)));
    await settle();
    await a.manager.close();
    tabs.splice(tabs.indexOf(a), 1);
    await settle();
    expect(first.closeCalls).toEqual([1000]);
    expect(FakeSocket.instances).toHaveLength(2); // no timer was advanced
    expect(locks.holder()).toBe('tab2');
    expect(b.manager.status).toEqual({ state: 'connecting' });
    last().open();
    last().send(snapshot(metric('cpu', 5)));
    expect(b.manager.state).toBe('open');
    expect([...b.manager.latest().values()]).toEqual([metric('cpu', 5)]);
    expect(b.states.map((s) => s.state)).toEqual(['connecting', 'open', 'connecting', 'open']);
  });

  it('when the leader tab crashes, another takes over at once, even from a long backoff wait', async () => {
    const a = await openTab();
    const b = await openTab();
    const c = await openTab();
    for (let i = 0; i < 3; i++) {
      last().fail();
      if (i < 2) vi.advanceTimersByTime(a.manager.status.nextAttemptAt! - Date.now());
    }
    await settle();
    expect(b.manager.status).toMatchObject({ state: 'reconnecting', attempt: 3, nextAttemptAt: Date.now() + 10_000 });
    const before = FakeSocket.instances.length;
    crash(a);
    await settle();
    expect(FakeSocket.instances).toHaveLength(before + 1);
    expect(locks.holder()).toBe('tab2');
    expect(b.manager.status).toEqual({ state: 'connecting' });
    last().open();
    await settle();
    expect(c.manager.state).toBe('open'); // the third tab follows the new leader
    expect(FakeSocket.live()).toHaveLength(1);
  });

  it('a tab that closes while following leaves the others alone and stops receiving', async () => {
    await openTab();
    const b = await openTab();
    last().open();
    await b.manager.close();
    tabs.splice(tabs.indexOf(b), 1);
    last().send(snapshot(metric('cpu', 1)));
    await settle();
    expect(b.manager.state).toBe('closed');
    expect(b.envelopes).toEqual([]);
    expect(tabs[0]!.manager.state).toBe('open');
    expect(last().closeCalls).toEqual([]);
    expect(locks.waiting).toBe(0);
  });

  it('connect() in a following tab asks the leader, e.g. to try again after a refusal', async () => {
    const a = await openTab();
    const b = await openTab();
    last().serverClose(4401, 'bad key');
    await settle();
    expect(b.manager.status).toMatchObject({ state: 'closed', code: 4401 });
    b.manager.connect();
    await settle();
    expect(FakeSocket.instances).toHaveLength(2);
    expect(a.manager.state).toBe('connecting');
  });

  it('does not retry a refused key when the leader closes: the tab that takes over stays closed', async () => {
    const a = await openTab();
    const b = await openTab();
    last().serverClose(4403);
    await settle();
    await a.manager.close();
    tabs.splice(tabs.indexOf(a), 1);
    await settle();
    expect(locks.holder()).toBe('tab2');
    expect(FakeSocket.instances).toHaveLength(1);
    expect(b.manager.status).toMatchObject({ state: 'closed', code: 4403 });
  });

  it('falls back to one socket per tab without Web Locks or without BroadcastChannel', async () => {
    vi.stubGlobal('navigator', {});
    const a = new StreamManager({ url: URL, WebSocket: FakeSocket, shareAcrossTabs: true, authCheckUrl: false });
    vi.stubGlobal('navigator', { locks: locks.forTab('x') });
    vi.stubGlobal('BroadcastChannel', undefined);
    const b = new StreamManager({ url: URL, WebSocket: FakeSocket, shareAcrossTabs: true, authCheckUrl: false });
    a.connect();
    b.connect();
    expect(FakeSocket.instances).toHaveLength(2); // synchronously, as without the option
    await Promise.all([a.close(), b.close()]);
  });

  it('shares only between managers of the same URL, types and key', async () => {
    await openTab();
    await openTab({ apiKey: 'other' });
    await openTab({ types: ['alert'] });
    await openTab();
    expect(FakeSocket.instances).toHaveLength(3);
  });

  it('leaves cleanly when closed while the sharing code is still loading', async () => {
    vi.stubGlobal('navigator', { locks: locks.forTab('t') });
    vi.stubGlobal('BroadcastChannel', channels.forTab('t'));
    const m = new StreamManager({ url: URL, WebSocket: FakeSocket, shareAcrossTabs: true, authCheckUrl: false });
    m.connect();
    expect(m.state).toBe('connecting');
    await m.close();
    await settle();
    expect(FakeSocket.instances).toHaveLength(0);
    expect(locks.waiting).toBe(0);
    expect(locks.holder()).toBeUndefined();
  });

  describe('while hidden', () => {
    it('keeps the shared connection open while another tab is visible, and closes it when none is', async () => {
      const leaderPage = new FakeVisibility();
      const otherPage = new FakeVisibility();
      const a = await openTab({ hiddenTimeoutMs: 1000 }, leaderPage);
      const b = await openTab({ hiddenTimeoutMs: 1000 }, otherPage);
      const socket = last();
      socket.open();
      leaderPage.hide();
      vi.advanceTimersByTime(1000); // the leader asks; the other tab answers that it is visible
      await settle();
      expect(socket.closeCalls).toEqual([]);
      otherPage.hide();
      vi.advanceTimersByTime(1000); // asks again: no answer
      await settle();
      vi.advanceTimersByTime(250);
      expect(socket.closeCalls).toEqual([1000]);
      await settle();
      for (const tab of [a, b]) expect(tab.manager.status).toEqual({ state: 'closed', reason: 'hidden' });

      otherPage.show(); // a follower shown again wakes the leader, which reconnects after the jitter
      await settle();
      expect(a.manager.status).toEqual({ state: 'reconnecting', nextAttemptAt: Date.now() + 500, reason: 'visible again' });
      vi.advanceTimersByTime(500);
      expect(FakeSocket.instances).toHaveLength(2);
      last().open();
      await settle();
      expect(b.manager.state).toBe('open');
    });

    it('wakes the leader when a page is shown while the connection is being closed for hidden pages', async () => {
      const pages = [new FakeVisibility(), new FakeVisibility()];
      const a = await openTab({ hiddenTimeoutMs: 1000 }, pages[0]);
      await openTab({ hiddenTimeoutMs: 1000 }, pages[1]);
      last().open();
      pages[1]!.hide();
      pages[0]!.hide();
      vi.advanceTimersByTime(1000);
      await settle();
      vi.advanceTimersByTime(250); // no answer: the leader closes, and tells the other tab on its way
      pages[1]!.show(); // before that message arrives: this tab does not know yet that it must wake anyone
      await settle();
      expect(a.manager.status).toMatchObject({ state: 'reconnecting', reason: 'visible again' });
    });

    it('a hidden tab taking over a connection closed for hidden pages stays closed until a page is shown', async () => {
      const pages = [new FakeVisibility(), new FakeVisibility()];
      const a = await openTab({ hiddenTimeoutMs: 1000 }, pages[0]);
      const b = await openTab({ hiddenTimeoutMs: 1000 }, pages[1]);
      last().open();
      pages[1]!.hide();
      pages[0]!.hide();
      vi.advanceTimersByTime(1000);
      await settle();
      vi.advanceTimersByTime(250);
      await settle();
      expect(b.manager.status).toEqual({ state: 'closed', reason: 'hidden' });
      crash(a);
      await settle();
      expect(locks.holder()).toBe('tab2');
      expect(FakeSocket.instances).toHaveLength(1);
      pages[1]!.show();
      vi.advanceTimersByTime(500);
      expect(FakeSocket.instances).toHaveLength(2);
    });
  });
});

describe('joinTabs', () => {
  const host = (overrides: Partial<TabHost> = {}): TabHost & { led: number } => {
    const h = { led: 0, lead: () => void h.led++, follow: () => {}, sync: () => [], wake: () => {}, isVisible: () => true, ...overrides };
    return h;
  };
  const env = (tab: string) => ({
    locks: locks.forTab(tab),
    BroadcastChannel: channels.forTab(tab),
    timers: { setTimeout: (cb: () => void, ms: number) => setTimeout(cb, ms), clearTimeout: (h: unknown) => clearTimeout(h as never) },
    random: Math.random,
  });

  it('grants the lead to the tabs in the order they joined, one at a time', async () => {
    const [h1, h2, h3] = [host(), host(), host()];
    const t1 = joinTabs('n', h1, env('1'));
    const t2 = joinTabs('n', h2, env('2'));
    const t3 = joinTabs('n', h3, env('3'));
    await settle();
    expect([h1.led, h2.led, h3.led]).toEqual([1, 0, 0]);
    expect(t1.isLeader).toBe(true);
    t1.leave();
    await settle();
    expect([h1.led, h2.led, h3.led]).toEqual([1, 1, 0]);
    t2.leave();
    t3.leave();
  });

  it('answers a visibility question with false when no other tab answers in time', async () => {
    const leader = joinTabs('n', host(), env('1'));
    const hidden = joinTabs('n', host({ isVisible: () => false }), env('2'));
    await settle();
    const answers: boolean[] = [];
    leader.askVisible(250, (v) => answers.push(v));
    await settle();
    expect(answers).toEqual([]);
    vi.advanceTimersByTime(250);
    expect(answers).toEqual([false]);
    leader.leave();
    hidden.leave();
  });

  it('names the lock after the URL and the offered subprotocols, never with the key in clear', () => {
    const name = shareName(URL, ['system-stream.v1', 'system-stream.key.c2VjcmV0']);
    expect(name).toMatch(/^system-stream:[0-9a-z]+$/);
    expect(name).not.toContain('c2VjcmV0');
    expect(shareName(URL, ['system-stream.v1'])).not.toBe(name);
    expect(shareName(URL, ['system-stream.v1', 'system-stream.key.c2VjcmV0'])).toBe(name);
  });
});
