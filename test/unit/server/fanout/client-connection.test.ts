// One client connection with a fake socket and fake timers: the initial packets, the one write rule
// (socket limit), the rate cap, the heartbeat flag and teardown. No network.
import { NEVER, Subject } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientConnection, type ConnectionContext } from '../../../../src/server/fanout/client-connection.js';
import { envelopeDelivery, snapshotEndDelivery, type Delivery } from '../../../../src/server/fanout/delivery.js';
import { envelopeKey } from '../../../../src/protocol/wire.js';
import { createCounters } from '../../../../src/server/stats.js';
import { noopLogger } from '../../../../src/shared/logger.js';
import { FakeWs, useFanoutFakeTimers } from '../../../helpers/fake-ws.js';
import { metric } from '../../../helpers/fixtures.js';

const d = (value: number, type = 'cpu'): Delivery => {
  const e = metric(type, value);
  return envelopeDelivery(e, envelopeKey(e));
};

function connection(options: { maxMessagesPerSecond?: number; initial?: readonly (readonly Delivery[])[] } = {}) {
  const ws = new FakeWs();
  const live = new Subject<readonly Delivery[]>();
  const closed: number[] = [];
  const ctx = {
    drain$: NEVER,
    counters: createCounters(),
    logger: noopLogger,
    maxBufferedBytes: 1024,
    slowClientTimeoutMs: 5000,
    maxMessagesPerSecond: options.maxMessagesPerSecond ?? 1000,
    maxHeldPerClient: 100,
    onWritten: undefined,
    onClosed: (_c: ClientConnection, code: number) => closed.push(code),
  } satisfies ConnectionContext;
  const client = new ClientConnection('c1', ws.asWs(), live, ctx, options.initial ?? []);
  return { ws, live, client, closed, ctx };
}

describe('ClientConnection', () => {
  beforeEach(() => useFanoutFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends its initial packets a chunk at a time while the socket takes them, and is blocked for live packets until they are out', () => {
    const snapshot = [d(1), d(2, 'memory'), snapshotEndDelivery(2)];
    const { ws, client } = connection({ initial: [snapshot] });
    expect(client.isBlocked()).toBe(true);
    ws.bufferedAmount = 2000; // over the 1024 limit
    expect(client.sendInitialChunk()).toBe('full');
    expect(ws.sent).toEqual([]);
    ws.bufferedAmount = 0;
    expect(client.sendInitialChunk()).toBe('sent'); // the snapshot is one chunk (~200 bytes)
    expect(ws.packets().map((p) => p.type)).toEqual(['system_metric', 'system_metric', 'snapshot_end']);
    expect(client.sendInitialChunk()).toBe('done');
    expect(client.initialSource).toBeUndefined();
    expect(client.isBlocked()).toBe(false);
  });

  it('reports how long its socket has been full', () => {
    const { ws, client } = connection({ initial: [[d(1)]] });
    ws.bufferedAmount = 2000;
    client.sendInitialChunk();
    vi.advanceTimersByTime(300);
    expect(client.fullForMs).toBeGreaterThanOrEqual(300);
    ws.bufferedAmount = 0;
    client.sendInitialChunk();
    expect(client.fullForMs).toBe(0);
  });

  it('spends one token per live packet and is blocked when the second`s budget is spent, until it refills', () => {
    const { live, client, ws } = connection({ maxMessagesPerSecond: 3 });
    live.next([d(1), d(2), d(3)]);
    expect(ws.sent).toHaveLength(3);
    expect(client.isBlocked()).toBe(true);
    vi.advanceTimersByTime(400); // 1.2 tokens back
    expect(client.isBlocked()).toBe(false);
  });

  it('flips its heartbeat flag on ping and back on pong', () => {
    const { ws, client } = connection();
    client.ping();
    expect(client.isAlive).toBe(false);
    expect(ws.pings).toBe(1);
    expect(ws.packets().map((p) => p.type)).toEqual(['heartbeat']);
    ws.emit('pong');
    expect(client.isAlive).toBe(true);
  });

  it('tears down once its socket closes: no more packets, its sources let go, onClosed called once', () => {
    const source = { isStarted: false, next: vi.fn(() => null), prepare: () => true, cut: vi.fn(), close: vi.fn() };
    const { ws, live, closed } = connection();
    const client2 = new ClientConnection('c2', new FakeWs().asWs(), live, connection().ctx, [source]);
    ws.closedByPeer(1001);
    live.next([d(1)]);
    expect(ws.sent).toEqual([]);
    expect(closed).toEqual([1001]);
    // A client closed with initial packets pending lets go of them.
    expect(client2.initialSource).toBe(source);
    client2.closed(1000);
    expect(source.close).toHaveBeenCalledOnce();
    expect(client2.initialSource).toBeUndefined();
  });

  it('marks its waiting backfill incomplete when live packets held meanwhile had to be dropped', () => {
    const source = { isStarted: true, next: vi.fn(() => null), prepare: () => true, cut: vi.fn(), close: vi.fn(), markIncomplete: vi.fn() };
    const { ws, live, ctx } = connection();
    ws.bufferedAmount = 10_000; // nothing goes out: the live packets are held
    const client = new ClientConnection('c3', ws.asWs(), live, { ...ctx, maxHeldPerClient: 10 }, [source]);
    for (let i = 0; i < 10; i++) live.next([d(i)]);
    expect(source.markIncomplete).not.toHaveBeenCalled(); // ten held, none replaced although they share a key
    live.next([d(10)]);
    expect(source.markIncomplete).toHaveBeenCalled();
    expect(client.initialSource).toBe(source);
  });
});
