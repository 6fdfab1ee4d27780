// The in-memory history and the `?since=` backfill, against a real redis-server and real ws clients.
import { describe, expect, it } from 'vitest';
import type { Envelope, ServerPacket, SnapshotEndPacket, SystemMetricMessage } from '../../src/protocol/wire.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connect, connectOpen, expectRefused, snapshotEnvelopes, type TestClient } from '../helpers/ws-client.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function metric(metric_type: string, value: number, timeMs: number, source = 'host'): SystemMetricMessage {
  return { type: 'system_metric', data: { time: iso(timeMs), metric_type, value, source } };
}
const label = (e: Envelope): string =>
  e.type === 'system_metric'
    ? `${e.data.metric_type}=${e.data.value}`
    : e.type === 'alert'
      ? `alert ${e.data.level}`
      : `${e.data.container} ${e.data.status}`;
const endOf = (c: TestClient): SnapshotEndPacket =>
  c.packets.find((p): p is SnapshotEndPacket => p.type === 'snapshot_end') as SnapshotEndPacket;

describe('history and ?since= backfill', () => {
  const fx = useStreamFixtures();

  /** Publishes each envelope and waits until the stream has delivered it (so it is in the history). */
  async function deliver(
    s: { channel: string; stream: { messages$: import('rxjs').Observable<Envelope> } },
    watcher: TestClient,
    ...envelopes: Envelope[]
  ) {
    const pub = fx.redis().publisher();
    for (const e of envelopes) {
      const json = JSON.stringify(e);
      const from = watcher.packets.length;
      await pub.publish(s.channel, json);
      await watcher.waitFor((p) => JSON.stringify(p) === json, 5000, from);
    }
  }

  it('sends every held value at or after since, oldest first across keys, plus the latest of older keys, then snapshot_end', async () => {
    const s = await fx.server();
    const watcher = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const now = Date.now();
    await deliver(
      s,
      watcher,
      { type: 'container_status', data: { container: 'api', status: 'running', time: iso(now - 600_000) } },
      metric('cpu', 1, now - 180_000),
      metric('cpu', 2, now - 120_000),
      metric('memory', 50, now - 90_000),
      metric('cpu', 3, now - 60_000),
      metric('memory', 51, now - 100_000), // delivered last, but older: placed by its time
    );

    const c = fx.track(await connectOpen(s.wsUrl(`api_key=k&since=${now - 150_000}`)));
    expect(snapshotEnvelopes(c).map(label)).toEqual(['api running', 'cpu=2', 'memory=51', 'memory=50', 'cpu=3']);
    // Live begins after it; the server started after `since`, so it cannot vouch for what came before.
    expect(endOf(c).data).toEqual({ count: 5, since: iso(now - 150_000), complete: false });

    // ISO-8601 works the same; a since after the server started is complete.
    const iso2 = fx.track(await connectOpen(s.wsUrl(`api_key=k&since=${encodeURIComponent(iso(now - 150_000))}`)));
    expect(snapshotEnvelopes(iso2).map(label)).toEqual(snapshotEnvelopes(c).map(label));
    const later = fx.track(await connectOpen(s.wsUrl(`api_key=k&since=${Date.now()}`)));
    expect(endOf(later).data.complete).toBe(true);
    // Without since: the plain snapshot, the latest value of each key in order of last update.
    const plain = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    expect(snapshotEnvelopes(plain).map(label)).toEqual(['api running', 'cpu=3', 'memory=51']);
    expect(endOf(plain).data).toEqual({ count: 3 });
  });

  it.each(['yesterday', '2026-01-17T04:30:00', '', '-1', '1.5', '1%262'])(
    'refuses since=%j with 400 before any WebSocket opens',
    async (since) => {
      const s = await fx.server();
      const { status } = await expectRefused(s.wsUrl(`api_key=k&since=${since}`));
      expect(status).toBe(400);
      expect((await expectRefused(s.wsUrl('api_key=k&since=1&since=2'))).status).toBe(400);
      expect(s.stream.stats().rejected).toBe(2);
    },
  );

  it('records what was delivered after throttling, not every message received', async () => {
    const s = await fx.server({ throttleMs: 300 });
    const watcher = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const pub = fx.redis().publisher();
    const now = Date.now();
    for (let i = 1; i <= 10; i++) await pub.publish(s.channel, JSON.stringify(metric('cpu', i, now + i)));
    await watcher.waitFor((p) => p.type === 'system_metric' && p.data.value === 10);
    const c = fx.track(await connectOpen(s.wsUrl(`api_key=k&since=${now}`)));
    // What the watcher got, live, is exactly what the history holds.
    const live = watcher.packets.filter((p): p is SystemMetricMessage => p.type === 'system_metric').map(label);
    expect(live[0]).toBe('cpu=1');
    expect(live.at(-1)).toBe('cpu=10');
    expect(live.length).toBeLessThan(10);
    expect(snapshotEnvelopes(c).map(label)).toEqual(live);
  });

  it('backfills only the types a client may receive', async () => {
    const s = await fx.server();
    const watcher = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const now = Date.now();
    await deliver(s, watcher, metric('cpu', 1, now), {
      type: 'alert',
      data: { level: 'critical', metric_type: 'cpu', source: 'host', value: 95, threshold: 90, message: 'hot', time: iso(now + 1) },
    });
    const c = fx.track(await connectOpen(s.wsUrl(`api_key=k&types=alert&since=${now - 1000}`)));
    expect(snapshotEnvelopes(c).map(label)).toEqual(['alert critical']);
  });

  it('never sends a value twice on one connection: a backfill ends exactly where live begins', async () => {
    const s = await fx.server({ throttleMs: 0 });
    const pub = fx.redis().publisher();
    const startedAt = Date.now();
    const clients: TestClient[] = [];
    let published = 0;
    // Publish a value every 2 ms and open a client every 15 ms meanwhile, each asking for everything. At most
    // 40 clients: on a slow machine publishing takes longer, and past the default maxClients (100) the
    // handshakes would be refused.
    const publishing = (async () => {
      for (let i = 1; i <= 300; i++) {
        await pub.publish(s.channel, JSON.stringify(metric(`k${i % 7}`, i, startedAt + i)));
        published = i;
        if (i % 2 === 0) await sleep(2);
      }
    })();
    while (published < 280 && clients.length < 40) {
      clients.push(fx.track(connect(s.wsUrl(`api_key=k&since=${startedAt - 1000}`))));
      await sleep(15);
    }
    await publishing;
    expect(clients.length).toBeGreaterThan(5);
    for (const c of clients) {
      await c.waitFor((p) => p.type === 'system_metric' && p.data.value === 300, 5000);
      const values = c.packets.filter((p): p is SystemMetricMessage => p.type === 'system_metric').map((p) => p.data.value);
      // Every value once: those delivered before the client connected in its backfill, the rest live.
      expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(c.packets.filter((p: ServerPacket) => p.type === 'snapshot_end')).toHaveLength(1);
    }
  });

  it('backfills values whose time Date.parse refuses but the schema accepts (+hh and +hhmm offsets), and only then says complete', async () => {
    const s = await fx.server({ throttleMs: 0 });
    const watcher = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const since = Date.now();
    /** `ms` written at UTC+05:00 without the colon or minutes, as some producers do. */
    const at = (ms: number, offset: '+05' | '+0500'): string => `${new Date(ms + 5 * 3_600_000).toISOString().slice(0, 19)}${offset}`;
    expect(Number.isNaN(Date.parse(at(since, '+05')))).toBe(true);
    const a: Envelope = { type: 'system_metric', data: { time: at(since + 1000, '+05'), metric_type: 'cpu', value: 1, source: 'h' } };
    const b: Envelope = { type: 'system_metric', data: { time: at(since + 2000, '+0500'), metric_type: 'cpu', value: 2, source: 'h' } };
    await deliver(s, watcher, a, b);
    const c = fx.track(await connectOpen(s.wsUrl(`api_key=k&since=${since}`)));
    expect(snapshotEnvelopes(c).map(label)).toEqual(['cpu=1', 'cpu=2']);
    expect(endOf(c).data).toMatchObject({ count: 2, complete: true });
  });
});
