// StreamManager's apiKey as a function: asked before every attempt, renewed at once after the server closes
// for expired credentials, retried with backoff when it fails, and with shareAcrossTabs asked only by the
// tab that holds the connection. Fake sockets, locks and channels; fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CloseCode } from '../../../src/protocol/close-codes.js';
import { keyProtocol, PROTOCOL_V1, type Envelope, type ServerPacket } from '../../../src/protocol/wire.js';
import { StreamManager } from '../../../src/client/stream-manager.js';
import type { StreamManagerOptions, StreamStatus } from '../../../src/client/types.js';
import { FakeChannels, FakeLocks, FakeNetwork, FakeSocket, FakeVisibility } from '../../helpers/fake-browser.js';
import { metric } from '../../helpers/fixtures.js';

const URL = 'ws://127.0.0.1:1/api/system/ws';
const snapshot = (...data: Envelope[]): ServerPacket[] => [...data, { type: 'snapshot_end', data: { count: data.length } }];
const last = (): FakeSocket => FakeSocket.instances.at(-1)!;
const managers: StreamManager[] = [];

async function settle(): Promise<void> {
  await vi.dynamicImportSettled();
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function manager(options: Partial<StreamManagerOptions>): { manager: StreamManager; states: StreamStatus[] } {
  const m = new StreamManager({
    url: URL,
    WebSocket: FakeSocket,
    jitter: 0,
    idleTimeoutMs: 0,
    authCheckUrl: false,
    visibility: new FakeVisibility(),
    network: new FakeNetwork(),
    ...options,
  });
  managers.push(m);
  const states: StreamStatus[] = [];
  m.on('state', (s) => states.push(s));
  return { manager: m, states };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: new Date('2026-01-17T04:30:00Z') });
  FakeSocket.instances.length = 0;
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  await settle();
  expect(vi.getTimerCount()).toBe(0);
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('StreamManager option: apiKey as a function', () => {
  it('asks for a key before every attempt and offers it in the key subprotocol', async () => {
    let n = 0;
    const { manager: m } = manager({ apiKey: async () => `token-${++n}` });
    m.connect();
    await settle();
    expect(last().protocols).toEqual([PROTOCOL_V1, keyProtocol('token-1')]);
    last().open();
    last().serverClose(1006);
    await vi.advanceTimersByTimeAsync(2000);
    await settle();
    expect(FakeSocket.instances).toHaveLength(2);
    expect(last().protocols).toEqual([PROTOCOL_V1, keyProtocol('token-2')]);
  });

  it('on 4440 asks for a new key and reconnects at once with since, without a backoff step', async () => {
    let n = 0;
    const { manager: m, states } = manager({ apiKey: () => `token-${++n}` });
    m.connect();
    await settle();
    last().open();
    last().send(snapshot(metric('cpu', 1)));
    await vi.advanceTimersByTimeAsync(5000);
    last().serverClose(CloseCode.CredentialsExpired, 'credentials expired: renew and reconnect');
    await settle();
    expect(FakeSocket.instances).toHaveLength(2);
    expect(last().protocols).toEqual([PROTOCOL_V1, keyProtocol('token-2')]);
    expect(new globalThis.URL(last().url).searchParams.get('since')).not.toBeNull();
    expect(states.map((s) => s.state)).toEqual(['connecting', 'open', 'connecting']);
    expect(states.at(-1)).toMatchObject({ code: CloseCode.CredentialsExpired });
  });

  it('waits its backoff after 4440 when the connection lasted under 1 s, and with a string key', async () => {
    const { manager: withFunction, states } = manager({ apiKey: () => 't' });
    withFunction.connect();
    await settle();
    last().open();
    last().serverClose(CloseCode.CredentialsExpired);
    await settle();
    expect(states.at(-1)).toMatchObject({ state: 'reconnecting', attempt: 1 });
    await withFunction.close();
    const { manager: withString, states: stringStates } = manager({ apiKey: 'static' });
    withString.connect();
    const stringSocket = last();
    stringSocket.open();
    await vi.advanceTimersByTimeAsync(5000);
    stringSocket.serverClose(CloseCode.CredentialsExpired);
    expect(stringStates.at(-1)).toMatchObject({ state: 'reconnecting', attempt: 1, code: CloseCode.CredentialsExpired });
  });

  it('is reconnecting with a reason when the function does not answer within connectTimeoutMs, and ignores a late answer', async () => {
    let answer: (key: string) => void = () => {};
    const { manager: m, states } = manager({ apiKey: () => new Promise<string>((resolve) => (answer = resolve)), connectTimeoutMs: 3000 });
    m.connect();
    await vi.advanceTimersByTimeAsync(3000);
    expect(states.at(-1)).toMatchObject({ state: 'reconnecting', attempt: 1, reason: 'the apiKey function did not answer within 3 s' });
    answer('late');
    await settle();
    expect(FakeSocket.instances).toHaveLength(0);
  });

  it('opens nothing when closed while the function is still answering', async () => {
    let answer: (key: string) => void = () => {};
    const { manager: m } = manager({ apiKey: () => new Promise<string>((resolve) => (answer = resolve)) });
    m.connect();
    await m.close();
    answer('too-late');
    await settle();
    expect(FakeSocket.instances).toHaveLength(0);
    expect(m.state).toBe('closed');
  });

  it('with shareAcrossTabs, only the tab holding the connection asks; the next leader asks when it takes over', async () => {
    const locks = new FakeLocks();
    const channels = new FakeChannels();
    const asked: string[] = [];
    const tab = async (id: string): Promise<StreamManager> => {
      vi.stubGlobal('navigator', { locks: locks.forTab(id), onLine: true });
      vi.stubGlobal('BroadcastChannel', channels.forTab(id));
      const { manager: m } = manager({ shareAcrossTabs: true, apiKey: () => (asked.push(id), `key-of-${id}`), random: () => 0.5 });
      m.connect();
      await settle();
      return m;
    };
    const first = await tab('tab1');
    await tab('tab2');
    await tab('tab3');
    expect(asked).toEqual(['tab1']);
    expect(FakeSocket.instances).toHaveLength(1);
    await first.close();
    await settle();
    expect(asked).toEqual(['tab1', 'tab2']);
    expect(last().protocols).toEqual([PROTOCOL_V1, keyProtocol('key-of-tab2')]);
  });
});
