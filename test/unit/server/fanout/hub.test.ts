// The hub with fake sockets and fake timers: admission order, filter groups, backpressure, the replay slots
// and the close paths. No network; time moves only when a test advances it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InitialSource } from '../../../../src/server/fanout/initial-packets.js';
import { controlDelivery, envelopeDelivery, snapshotEndDelivery, type Delivery } from '../../../../src/server/fanout/delivery.js';
import { Fanout, MAX_REPLAYS, REPLAY_MAX_MS, REPLAY_STALL_MS, type FanoutOptions } from '../../../../src/server/fanout/hub.js';
import { CloseCode } from '../../../../src/protocol/close-codes.js';
import { envelopeKey } from '../../../../src/protocol/wire.js';
import { createCounters } from '../../../../src/server/stats.js';
import { noopLogger } from '../../../../src/shared/logger.js';
import { FakeWs, useFanoutFakeTimers } from '../../../helpers/fake-ws.js';
import { alert, container, metric } from '../../../helpers/fixtures.js';

const ALL = { types: null };
const d = (e: Parameters<typeof envelopeKey>[0]): Delivery => envelopeDelivery(e, envelopeKey(e));

function hub(overrides: Partial<FanoutOptions> = {}) {
  const counters = createCounters();
  const options = {
    counters,
    logger: noopLogger,
    maxBufferedBytes: 1024,
    slowClientTimeoutMs: 5000,
    maxMessagesPerSecond: 1000,
    heartbeatIntervalMs: 30_000,
    compression: null,
    ...overrides,
  };
  return { fanout: new Fanout(options as FanoutOptions), counters };
}

/** A lazy source like a backfill: not started until first asked, then `n` chunks of one packet, then the end. */
class FakeSource implements InitialSource {
  isStarted = false;
  cuts = 0;
  closed = false;
  #left: number;
  constructor(
    readonly name: string,
    n: number,
  ) {
    this.#left = n;
  }
  next(): readonly Delivery[] | null {
    this.isStarted = true;
    if (this.#left < 0) return null;
    if (this.#left-- === 0) return [snapshotEndDelivery(0)];
    return [d(metric('cpu', this.#left, this.name))];
  }
  prepare(): boolean {
    this.isStarted = true; // as a backfill, which gathers its packets here
    return true;
  }
  cut(): void {
    this.cuts++;
    this.#left = Math.min(this.#left, 0);
  }
  close(): void {
    this.closed = true;
  }
}

/** Lets the pump and the drain ticker run: `ms` of fake time, in small steps. */
async function run(ms = 100): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

describe('Fanout (the hub)', () => {
  beforeEach(() => useFanoutFakeTimers());
  afterEach(() => vi.useRealTimers());

  describe('admission order', () => {
    it('writes nothing at accept; then the initial packets, in order, before any live packet', async () => {
      const { fanout } = hub();
      const ws = new FakeWs();
      const snapshot = [d(metric('cpu', 1)), d(metric('memory', 2)), snapshotEndDelivery(2)];
      fanout.accept(ws.asWs(), ALL, [snapshot, [controlDelivery({ type: 'status', data: { code: 200, message: 'OK', time: 't' } })]]);
      expect(ws.sent).toEqual([]);
      fanout.broadcast([d(metric('disk', 3))]); // live, while the snapshot is not out yet: held
      expect(ws.sent).toEqual([]);
      await run();
      expect(ws.packets().map((p) => p.type)).toEqual(['system_metric', 'system_metric', 'snapshot_end', 'status', 'system_metric']);
      expect(JSON.parse(ws.sent.at(-1)!).data.metric_type).toBe('disk');
      expect(fanout.starting).toBe(0);
    });

    it('passes live packets straight through once the initial packets are out', async () => {
      const { fanout } = hub();
      const ws = new FakeWs();
      fanout.accept(ws.asWs(), ALL, [[snapshotEndDelivery(0)]]);
      await run();
      fanout.broadcast([d(metric('cpu', 1))]);
      expect(ws.packets().map((p) => p.type)).toEqual(['snapshot_end', 'system_metric']);
    });

    it('holds every live packet (none replaced) while the initial packets go out, then sends them in order', async () => {
      const { fanout, counters } = hub();
      const ws = new FakeWs();
      ws.bufferedAmount = 10_000; // the snapshot cannot go out yet
      fanout.accept(ws.asWs(), ALL, [[snapshotEndDelivery(0)]]);
      await run(10);
      for (let i = 0; i < 10; i++) fanout.broadcast([d(metric('cpu', i)), d(alert(i % 2 ? 'critical' : 'resolved', i))]);
      ws.bufferedAmount = 0;
      await run();
      const values = ws.packets().flatMap((p) => (p.type === 'snapshot_end' ? [] : [`${p.type}=${(p.data as { value: number }).value}`]));
      expect(ws.packets()[0]?.type).toBe('snapshot_end');
      expect(values).toEqual(Array.from({ length: 10 }, (_, i) => [`system_metric=${i}`, `alert=${i}`]).flat());
      expect(counters.conflated).toBe(0);
    });

    it('drops the oldest held live packets past 5,000 while the initial packets wait, and closes nobody for it', async () => {
      const { fanout, counters } = hub({ slowClientTimeoutMs: 60_000 });
      const ws = new FakeWs();
      ws.bufferedAmount = 10_000;
      fanout.accept(ws.asWs(), ALL, [[snapshotEndDelivery(0)]]);
      for (let i = 0; i < 6000; i++) fanout.broadcast([d(metric('cpu', i))]);
      ws.bufferedAmount = 0;
      await run();
      expect(ws.closedWith).toBeNull();
      expect(counters.conflated).toBe(1000);
      expect(ws.sent).toHaveLength(5001);
      expect(JSON.parse(ws.sent[1]!).data.value).toBe(1000);
    });

    it('gives at most MAX_REPLAYS backfills a slot at once; the others wait, in the order they connected', async () => {
      const { fanout } = hub();
      const clients = Array.from({ length: MAX_REPLAYS + 2 }, (_, i) => {
        const ws = new FakeWs();
        ws.bufferedAmount = 10_000; // full: the first chunk cannot go out, so each backfill keeps its slot
        const source = new FakeSource(`h${i}`, 3);
        fanout.accept(ws.asWs(), ALL, [source]);
        return { ws, source };
      });
      await run(10);
      expect(fanout.replaysInProgress).toBe(MAX_REPLAYS);
      expect(clients.map((c) => c.source.isStarted)).toEqual([true, true, true, true, false, false]);
      // The first one's client goes away: the next in order gets its slot, not the last.
      clients[0]!.ws.closedByPeer();
      await run(10);
      expect(clients.map((c) => c.source.isStarted)).toEqual([true, true, true, true, true, false]);
      expect(clients[0]!.source.closed).toBe(true);
    });

    it('cuts a backfill whose socket stays full past REPLAY_STALL_MS and frees its slot', async () => {
      const { fanout } = hub();
      const stuck = new FakeWs();
      stuck.bytesKeptPerPacket = 600; // full after two packets (limit 1024)
      const source = new FakeSource('a', 100);
      fanout.accept(stuck.asWs(), ALL, [source]);
      await run(10);
      expect(fanout.replaysInProgress).toBe(1);
      await run(REPLAY_STALL_MS / 2);
      expect(source.cuts).toBe(0);
      await run(REPLAY_STALL_MS);
      expect(source.cuts).toBe(1);
      expect(fanout.replaysInProgress).toBe(0);
      // It drains: the rest of the cut backfill (its end) goes out.
      stuck.bytesKeptPerPacket = 0;
      stuck.bufferedAmount = 0;
      await run();
      expect(stuck.packets().at(-1)?.type).toBe('snapshot_end');
    });

    it('cuts a backfill still going out after REPLAY_MAX_MS even if its client reads slowly', async () => {
      const { fanout } = hub({ slowClientTimeoutMs: 60_000 });
      const slow = new FakeWs();
      const source = new FakeSource('a', 1_000_000);
      fanout.accept(slow.asWs(), ALL, [source]);
      // Reads a little every 100 ms: never full for long.
      const reader = setInterval(() => (slow.bufferedAmount = 0), 100);
      slow.bytesKeptPerPacket = 2000;
      await run(REPLAY_MAX_MS + 500);
      clearInterval(reader);
      expect(source.cuts).toBe(1);
    });
  });

  describe('filter groups', () => {
    it('sends each client what its filter lets through; clients with equal filters share one batch', async () => {
      const { fanout } = hub();
      const all = new FakeWs();
      const alerts1 = new FakeWs();
      const alerts2 = new FakeWs();
      const onlyAlerts = (): { types: ReadonlySet<'alert'> } => ({ types: new Set(['alert'] as const) });
      fanout.accept(all.asWs(), ALL, []);
      fanout.accept(alerts1.asWs(), onlyAlerts(), []);
      fanout.accept(alerts2.asWs(), onlyAlerts(), []);
      fanout.broadcast([d(metric()), d(alert()), d(container())]);
      expect(all.packets().map((p) => p.type)).toEqual(['system_metric', 'alert', 'container_status']);
      expect(alerts1.packets().map((p) => p.type)).toEqual(['alert']);
      expect(alerts2.sent).toEqual(alerts1.sent);
    });
  });

  describe('backpressure', () => {
    it('holds the latest packet per key for a client whose socket is full, and delivers it once it drains', async () => {
      const { fanout, counters } = hub();
      const ws = new FakeWs();
      fanout.accept(ws.asWs(), ALL, []);
      ws.bufferedAmount = 10_000;
      for (let i = 0; i < 10; i++) fanout.broadcast([d(metric('cpu', i)), d(container('db', i % 2 ? 'running' : 'exited'))]);
      expect(ws.sent).toEqual([]);
      ws.bufferedAmount = 0;
      await run(50);
      expect(ws.packets().map((p) => JSON.stringify(p.data).slice(0, 40))).toHaveLength(2);
      expect(counters.conflated).toBe(18);
    });

    it('holds live packets over the rate cap the same way, and closes nobody for it', async () => {
      const { fanout, counters } = hub({ maxMessagesPerSecond: 5 });
      const ws = new FakeWs();
      fanout.accept(ws.asWs(), ALL, []);
      for (let i = 0; i < 1000; i++) fanout.broadcast([d(container(`c${i % 20}`, 'running'))]);
      await run(5000);
      expect(ws.closedWith).toBeNull();
      expect(counters.slowClientsClosed).toBe(0);
      expect(new Set(ws.packets().map((p) => (p.data as { container: string }).container)).size).toBe(20);
    });

    it('closes a client whose socket stays full past slowClientTimeoutMs with 4429, then cuts it off', async () => {
      const { fanout, counters } = hub({ slowClientTimeoutMs: 1000 });
      const ws = new FakeWs();
      fanout.accept(ws.asWs(), ALL, []);
      ws.bufferedAmount = 10_000;
      fanout.broadcast([d(metric())]);
      await run(1200);
      expect(ws.closedWith?.code).toBe(CloseCode.SlowConsumer);
      expect(counters.slowClientsClosed).toBe(1);
      await run(1100);
      expect(ws.terminated).toBe(true);
      expect(fanout.size).toBe(0);
    });

    it('closes a non-reader whose initial packets cannot go out with 4429 too, and lets go of them', async () => {
      const { fanout } = hub({ slowClientTimeoutMs: 1000 });
      const ws = new FakeWs();
      ws.bytesKeptPerPacket = 2000;
      const source = new FakeSource('a', 1000);
      fanout.accept(ws.asWs(), ALL, [source]);
      await run(3000);
      expect(ws.closedWith?.code).toBe(CloseCode.SlowConsumer);
      expect(ws.sent.length).toBeLessThan(5); // one chunk past the limit, no more
      expect(source.closed).toBe(true);
    });

    it('sends the heartbeat packet only to a client that can take it, and terminates one that missed a pong', async () => {
      const { fanout, counters } = hub({ heartbeatIntervalMs: 1000 });
      const full = new FakeWs();
      const fine = new FakeWs();
      fanout.accept(full.asWs(), ALL, []);
      fanout.accept(fine.asWs(), ALL, []);
      full.bufferedAmount = 10_000;
      await run(1000);
      expect(fine.packets().map((p) => p.type)).toEqual(['heartbeat']);
      expect(full.sent).toEqual([]);
      expect(full.pings).toBe(1);
      fine.emit('pong');
      await run(1000);
      expect(fine.terminated).toBe(false);
      expect(full.terminated).toBe(true);
      expect(counters.deadClientsTerminated).toBe(1);
    });
  });

  describe('close paths', () => {
    it('closeAll() closes every client with the code and resolves once all have closed', async () => {
      const { fanout } = hub();
      const a = new FakeWs();
      const b = new FakeWs();
      fanout.accept(a.asWs(), ALL, []);
      fanout.accept(b.asWs(), ALL, []);
      const closing = fanout.closeAll(CloseCode.GoingAway, 'bye', 1000);
      expect(a.closedWith).toEqual({ code: CloseCode.GoingAway, reason: 'bye' });
      a.closedByPeer(CloseCode.GoingAway);
      b.closedByPeer(CloseCode.GoingAway);
      await closing;
      expect(fanout.size).toBe(0);
      expect(a.terminated || b.terminated).toBe(false);
    });

    it('closeAll() terminates the clients still open after the grace period', async () => {
      const { fanout } = hub();
      const a = new FakeWs();
      fanout.accept(a.asWs(), ALL, [new FakeSource('x', 5)]);
      const closing = fanout.closeAll(CloseCode.GoingAway, 'bye', 1000);
      await run(1000);
      await closing;
      expect(a.terminated).toBe(true);
      expect(fanout.size).toBe(0);
      expect(fanout.starting).toBe(0);
    });

    it('a client that sends data is closed with 4400, once', () => {
      const { fanout } = hub();
      const a = new FakeWs();
      fanout.accept(a.asWs(), ALL, []);
      a.emit('message', Buffer.from('hi'));
      a.emit('message', Buffer.from('again'));
      expect(a.closedWith?.code).toBe(CloseCode.BadRequest);
    });

    it('a client whose socket closes leaves the hub and stops receiving', () => {
      const { fanout } = hub();
      const a = new FakeWs();
      fanout.accept(a.asWs(), ALL, []);
      a.closedByPeer();
      fanout.broadcast([d(metric())]);
      expect(fanout.size).toBe(0);
      expect(a.sent).toEqual([]);
    });
  });
});
