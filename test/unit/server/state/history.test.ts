import { describe, expect, it } from 'vitest';
import { envelopeDelivery, type Delivery } from '../../../../src/server/fanout/delivery.js';
import { HistoryStore } from '../../../../src/server/state/history.js';
import { parseTime } from '../../../../src/server/state/time.js';
import { envelopeKey, type Envelope, type SnapshotEndPacket } from '../../../../src/protocol/wire.js';
import { SnapshotStore } from '../../../../src/server/state/snapshot.js';

const T0 = Date.parse('2026-01-17T04:30:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function metric(metric_type: string, value: number, timeMs: number, source = 'host'): Envelope {
  return { type: 'system_metric', data: { time: iso(timeMs), metric_type, value, source } };
}
function alert(level: 'critical' | 'resolved', timeMs: number): Envelope {
  return {
    type: 'alert',
    data: { level, metric_type: 'cpu', source: 'host', value: 95, threshold: 90, message: level, time: iso(timeMs) },
  };
}
const delivery = (e: Envelope): Delivery => envelopeDelivery(e, envelopeKey(e));

/** A store on a clock the test moves, with a snapshot fed the same envelopes. */
function setup(options: { historyMs?: number; maxPerKey?: number; maxEntries?: number; startMs?: number } = {}) {
  let now = options.startMs ?? T0;
  const store = new HistoryStore({
    historyMs: options.historyMs ?? 300_000,
    maxPerKey: options.maxPerKey ?? 6000,
    maxEntries: options.maxEntries ?? 100_000,
    now: () => now,
  });
  const snapshot = new SnapshotStore(100);
  return {
    store,
    snapshot,
    setNow: (ms: number) => void (now = ms),
    deliver(...envelopes: Envelope[]) {
      for (const e of envelopes) snapshot.update(e);
      store.record(envelopes.map(delivery));
    },
    replay(sinceMs: number, types: ReadonlySet<'system_metric' | 'container_status' | 'alert'> | null = null) {
      const filter = types === null ? null : { types };
      const backfill = store.replay(sinceMs, snapshot.deliveries(filter), filter);
      const deliveries = backfill.toArray();
      const { complete } = backfill;
      const end = JSON.parse(deliveries.at(-1)!.json) as SnapshotEndPacket;
      return { envelopes: deliveries.slice(0, -1).map((d) => JSON.parse(d.json) as Envelope), end, complete };
    },
  };
}

const values = (envelopes: readonly Envelope[]): string[] =>
  envelopes.map((e) => `${envelopeKey(e)}=${'value' in e.data ? e.data.value : e.data.status}`);

describe('HistoryStore', () => {
  it('backfills every value at or after since, sorted by time across keys, each once, then snapshot_end', () => {
    const h = setup({ startMs: T0 - 60_000 });
    h.setNow(T0 + 10_000);
    h.deliver(metric('cpu', 1, T0), metric('memory', 10, T0));
    h.deliver(metric('cpu', 2, T0 + 1000));
    h.deliver(metric('memory', 11, T0 + 500)); // delivered later, but older: sorted by time
    h.deliver(metric('cpu', 3, T0 + 2000));
    const { envelopes, end } = h.replay(T0 + 500);
    // The snapshot's latest of each key (cpu=3, memory=11) is held: not sent twice.
    expect(values(envelopes)).toEqual(['system_metric:memory:host=11', 'system_metric:cpu:host=2', 'system_metric:cpu:host=3']);
    expect(end).toEqual({ type: 'snapshot_end', data: { count: 3, since: iso(T0 + 500), complete: true } });
  });

  it('includes the latest envelope of a key whose last change is older than since, first', () => {
    const h = setup({ startMs: T0 - 600_000 });
    h.setNow(T0);
    h.deliver({ type: 'container_status', data: { container: 'api', status: 'running', time: iso(T0 - 400_000) } });
    h.setNow(T0 + 60_000);
    h.deliver(metric('cpu', 1, T0 + 30_000));
    const { envelopes } = h.replay(T0);
    expect(values(envelopes)).toEqual(['container_status:api=running', 'system_metric:cpu:host=1']);
  });

  it('leaves out a snapshot value a throttle still holds (not delivered yet): it reaches the client live, once', () => {
    const h = setup();
    h.deliver(metric('cpu', 1, T0), metric('memory', 5, T0));
    h.snapshot.update(metric('cpu', 2, T0 + 10)); // received, waiting in its throttle window
    expect(values(h.replay(T0).envelopes)).toEqual(['system_metric:cpu:host=1', 'system_metric:memory:host=5']);
  });

  it('backfills every alert and container change in the window, not only the latest', () => {
    const h = setup();
    h.deliver(alert('critical', T0));
    h.deliver(alert('resolved', T0 + 1000));
    h.deliver(alert('critical', T0 + 2000));
    h.deliver({ type: 'container_status', data: { container: 'api', status: 'exited', time: iso(T0 + 1500) } });
    h.deliver({ type: 'container_status', data: { container: 'api', status: 'running', time: iso(T0 + 2500) } });
    const { envelopes } = h.replay(T0);
    expect(envelopes.map((e) => (e.type === 'alert' ? e.data.level : e.type === 'container_status' ? e.data.status : ''))).toEqual([
      'critical',
      'resolved',
      'exited',
      'critical',
      'running',
    ]);
  });

  it('filters by the client`s types', () => {
    const h = setup();
    h.deliver(metric('cpu', 1, T0), alert('critical', T0 + 1));
    expect(h.replay(T0, new Set(['alert'])).envelopes.map((e) => e.type)).toEqual(['alert']);
  });

  it('keeps at most maxPerKey values of one key and reports a backfill reaching past them incomplete', () => {
    const h = setup({ maxPerKey: 3 });
    for (let i = 0; i < 5; i++) h.deliver(metric('cpu', i, T0 + i * 1000));
    h.deliver(metric('memory', 9, T0));
    expect(h.store.size).toBe(4);
    const { envelopes, complete } = h.replay(T0);
    expect(values(envelopes)).toEqual([
      'system_metric:memory:host=9',
      'system_metric:cpu:host=2',
      'system_metric:cpu:host=3',
      'system_metric:cpu:host=4',
    ]);
    expect(complete).toBe(false);
    expect(h.replay(T0 + 2000).complete).toBe(true); // after the newest value forgotten
  });

  it('keeps at most maxEntries values in total, forgetting the oldest delivered first', () => {
    const h = setup({ maxEntries: 4 });
    for (let i = 0; i < 6; i++) h.deliver(metric(`m${i % 3}`, i, T0 + i));
    expect(h.store.size).toBe(4);
    expect(values(h.replay(T0).envelopes).filter((v) => v.endsWith('=0') || v.endsWith('=1'))).toEqual([]);
  });

  it('forgets values older than historyMs, by their time', () => {
    const h = setup({ historyMs: 60_000 });
    h.deliver(metric('cpu', 1, T0), metric('cpu', 2, T0 + 30_000));
    h.setNow(T0 + 75_000);
    h.deliver(metric('cpu', 3, T0 + 75_000));
    expect(h.store.size).toBe(2);
    const { envelopes, complete } = h.replay(T0);
    expect(values(envelopes)).toEqual(['system_metric:cpu:host=2', 'system_metric:cpu:host=3']);
    expect(complete).toBe(false); // since is older than the window
    expect(h.replay(T0 + 15_000).complete).toBe(true);
  });

  it('is incomplete before the store started, before a gap, and complete again after markLoaded', () => {
    const h = setup({ startMs: T0 });
    expect(h.replay(T0 - 1000).complete).toBe(false);
    expect(h.replay(T0).complete).toBe(true);
    h.store.markLoaded(T0 - 200_000);
    expect(h.replay(T0 - 100_000).complete).toBe(true);
    h.setNow(T0 + 5000);
    h.store.markGap();
    expect(h.replay(T0 + 4000).complete).toBe(false);
    expect(h.replay(T0 + 5000).complete).toBe(true);
  });

  it('with historyMs 0 keeps nothing: a since gets the snapshot, marked incomplete', () => {
    const h = setup({ historyMs: 0 });
    h.deliver(metric('cpu', 1, T0), metric('cpu', 2, T0 + 1));
    expect(h.store.size).toBe(0);
    const { envelopes, complete } = h.replay(T0);
    expect(values(envelopes)).toEqual(['system_metric:cpu:host=2']);
    expect(complete).toBe(false);
  });

  it('ignores control packets and values without a parsable time', () => {
    const h = setup();
    h.store.record([{ type: 'heartbeat', json: '{"type":"heartbeat"}', conflationKey: null }]);
    h.store.record([{ ...delivery(metric('cpu', 1, T0)), time: 'not a time' }]);
    expect(h.store.size).toBe(0);
  });

  it('stays bounded and consistent under a long mixed run (per-key and total bounds, age)', () => {
    const h = setup({ historyMs: 10_000, maxPerKey: 50, maxEntries: 200 });
    let now = T0;
    for (let i = 0; i < 20_000; i++) {
      now += 7;
      h.setNow(now);
      h.store.record([delivery(metric(`k${i % 13}`, i, now - (i % 5) * 100))]);
      expect(h.store.size).toBeLessThanOrEqual(200);
    }
    const { envelopes } = h.replay(now - 10_000);
    expect(envelopes.length).toBe(h.store.size); // every value held, once (no snapshot fed here)
    const times = envelopes.map((e) => Date.parse(e.data.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });
});

describe('HistoryStore: times Date.parse refuses', () => {
  it('holds and backfills values whose time has a +hh offset or a leap second, and says complete only when it is', () => {
    const h = setup({ startMs: T0 - 60_000 });
    h.setNow(T0 + 60_000);
    const withTime = (time: string, value: number): Envelope => ({
      type: 'system_metric',
      data: { time, metric_type: 'cpu', value, source: `h${value}` },
    });
    // All three pass the message schema (ajv-formats date-time); Date.parse refuses the last two.
    expect(Number.isNaN(Date.parse('2026-01-17T09:30:10+05'))).toBe(true);
    h.deliver(withTime('2026-01-17T04:30:05Z', 1), withTime('2026-01-17T09:30:10+05', 2), withTime('2026-01-17T23:59:60Z', 3));
    expect(h.store.size).toBe(3);
    const { envelopes, complete } = h.replay(T0);
    expect(envelopes.map((e) => (e.data as { value: number }).value)).toEqual([1, 2, 3]);
    expect(complete).toBe(true);
  });

  it('marks a backfill from before a value it could not place as incomplete, rather than leave it out silently', () => {
    const h = setup({ startMs: T0 - 60_000 });
    h.setNow(T0);
    h.store.record([{ ...delivery(metric('cpu', 1, T0)), time: 'not a time' }]);
    expect(h.store.size).toBe(0);
    expect(h.replay(T0 - 1000).complete).toBe(false);
  });

  it.each([
    ['2026-01-17T04:30:00Z', T0],
    ['2026-01-17t04:30:00z', T0],
    ['2026-01-17 04:30:00Z', T0],
    ['2026-01-17T09:30:00+05', T0],
    ['2026-01-17T09:30:00+0500', T0],
    ['2026-01-17T00:00:00-04:30', T0],
    ['2026-01-17T04:30:00.123456789Z', T0 + 123],
    ['2026-01-17T04:29:60Z', T0], // a leap second counts as the next minute's first
    ['0050-01-01T00:00:00Z', Date.parse('0050-01-01T00:00:00Z')], // not 1950
  ])('parseTime reads %s', (text, expected) => {
    expect(parseTime(text)).toBe(expected);
  });

  it.each(['2026-01-17T04:30:00', '2026-01-17', 'yesterday', '2026-01-17T04:30Z'])('parseTime refuses %s', (text) => {
    expect(parseTime(text)).toBeNaN();
  });
});

describe('Backfill (lazy, chunked, cut)', () => {
  function filled(n: number, keys: number) {
    const h = setup({ startMs: T0 - 60_000 });
    h.setNow(T0 + 300_000);
    for (let i = 0; i < n; i += 100) {
      h.deliver(...Array.from({ length: 100 }, (_, j) => metric('cpu', i + j, T0 + i + j, `host-${(i + j) % keys}`)));
    }
    return h;
  }
  const valueOf = (d: Delivery): number => (JSON.parse(d.json) as { data: { value: number } }).data.value;

  it('holds what was recorded up to replay(), not what comes after (that reaches the client live)', () => {
    const h = filled(1000, 10);
    const backfill = h.store.replay(T0, h.snapshot.deliveries(), null);
    h.deliver(metric('cpu', 5000, T0 + 5000, 'host-0'));
    const all = backfill.toArray();
    expect(all.slice(0, -1).map(valueOf)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(JSON.parse(all.at(-1)!.json).data).toMatchObject({ count: 1000, complete: true });
  });

  it('gathers nothing until asked, then in slices, and hands out chunks of about 64 KB', () => {
    const h = filled(20_000, 100);
    const backfill = h.store.replay(T0, h.snapshot.deliveries(), null);
    expect(backfill.isStarted).toBe(false);
    let empty = 0;
    let chunk = backfill.next();
    for (; chunk !== null && chunk.length === 0; chunk = backfill.next()) empty++;
    expect(empty).toBeGreaterThan(1); // 20,000 values: more than one slice of gathering
    let packets = 0;
    for (; chunk !== null; chunk = backfill.next()) {
      expect(chunk.reduce((n, d) => n + d.json.length, 0)).toBeLessThanOrEqual(64 * 1024);
      packets += chunk.length;
    }
    expect(packets).toBe(20_001);
  });

  it('once cut, sends of the rest only each key`s latest value, counts what it sent, and says complete: false', () => {
    const h = filled(1000, 10);
    const backfill = h.store.replay(T0, h.snapshot.deliveries(), null);
    let sent = backfill.next()!;
    while (sent.length === 0) sent = backfill.next()!;
    expect(sent.length).toBeLessThan(1000);
    backfill.cut();
    const rest = backfill.toArray();
    const end = JSON.parse(rest.at(-1)!.json) as SnapshotEndPacket;
    const after = rest.slice(0, -1).map(valueOf);
    expect(after).toEqual(Array.from({ length: 10 }, (_, i) => 990 + i)); // the latest of each of the 10 keys, in time order
    expect(end.data.complete).toBe(false);
    expect(end.data.count).toBe(sent.length + 10);
    expect(backfill.complete).toBe(false);
  });

  it('says complete: false once told that live packets after it were lost', () => {
    const h = filled(1000, 10);
    const backfill = h.store.replay(T0, h.snapshot.deliveries(), null);
    backfill.markIncomplete();
    const end = JSON.parse(backfill.toArray().at(-1)!.json) as SnapshotEndPacket;
    expect(end.data).toMatchObject({ count: 1000, complete: false });
  });

  it('lets go of everything once closed', () => {
    const h = filled(1000, 10);
    const backfill = h.store.replay(T0, h.snapshot.deliveries(), null);
    backfill.close();
    expect(backfill.next()).toBeNull();
  });
});

describe('history options', () => {
  it('resolves the defaults: 5 minutes, 6000 per key, 100000 in total, no history stream', async () => {
    const { resolveOptions } = await import('../../../../src/server/options.js');
    const o = resolveOptions({ auth: false, redis: 'redis://127.0.0.1:1' });
    expect([o.historyMs, o.maxHistoryPerKey, o.maxHistoryEntries, o.historyStream]).toEqual([300_000, 6000, 100_000, null]);
    expect(resolveOptions({ auth: false, historyStream: true }).historyStream).toBe('{system:metrics}:history');
    expect(resolveOptions({ auth: false, historyStream: true, channel: '{t1}:m' }).historyStream).toBe('{t1}:m:history');
    expect(resolveOptions({ auth: false, historyStream: 'my:stream' }).historyStream).toBe('my:stream');
  });

  it('refuses a history stream on the in-process bus, and values that are not a boolean or a key', async () => {
    const { resolveOptions } = await import('../../../../src/server/options.js');
    const { createInProcessBus } = await import('../../../../src/redis/in-process-bus.js');
    expect(() => resolveOptions({ auth: false, redis: createInProcessBus(), historyStream: true })).toThrow(
      /`historyStream` needs a Redis server/,
    );
    expect(() => resolveOptions({ auth: false, historyStream: '' as never })).toThrow(
      /Expected `historyStream` to be true, false or a non-empty stream key, got/,
    );
    expect(() => resolveOptions({ auth: false, historyStream: 1 as never })).toThrow(/historyStream/);
    expect(() => resolveOptions({ auth: false, maxHistoryPerKey: 0 })).toThrow(/`maxHistoryPerKey` to be an integer >= 1/);
    expect(() => resolveOptions({ auth: false, maxHistoryEntries: 1.5 })).toThrow(/`maxHistoryEntries`/);
  });

  it('refuses a publisher history stream on a client that cannot run scripts', async () => {
    const { resolvePublisherOptions } = await import('../../../../src/publisher/publisher-options.js');
    expect(() => resolvePublisherOptions({ redis: { publish: async () => 1, duplicate: () => ({}) }, historyStream: true })).toThrow(
      /needs evalsha\(\) and eval\(\)/,
    );
    expect(resolvePublisherOptions({ historyStream: true, historyMaxLen: 500 }).historyStream).toEqual({
      channel: 'system:metrics',
      streamKey: '{system:metrics}:history',
      maxLen: 500,
    });
    expect(resolvePublisherOptions({}).historyStream).toBeNull();
  });
});
