import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Delivery } from '../../../../src/server/fanout/delivery.js';
import type { SourceStatusPacket } from '../../../../src/protocol/wire.js';
import { startStalenessTracker, type StalenessTracker } from '../../../../src/server/state/source-staleness.js';
import { alert, container, metric } from '../../../helpers/fixtures.js';

const T0 = new Date('2026-01-17T04:30:00Z').getTime();

let tracker: StalenessTracker | undefined;
/** Every change reported, one entry per onChange call. */
let reports: SourceStatusPacket[][];

function start(staleAfterIntervals = 3, staleFloorMs = 5000): StalenessTracker {
  tracker = startStalenessTracker({ staleAfterIntervals, staleFloorMs }, (batch: readonly Delivery[]) =>
    reports.push(batch.map((d) => JSON.parse(d.json) as SourceStatusPacket)),
  );
  return tracker;
}

/** `source` publishes cpu and memory together (one tick) every `everyMs`, `times` times. */
function publish(t: StalenessTracker, source: string, everyMs: number, times: number): void {
  for (let i = 0; i < times; i++) {
    if (i > 0) vi.advanceTimersByTime(everyMs);
    t.observe(metric('cpu', 1, source));
    t.observe(metric('memory', 2, source));
  }
}

const flat = (): { source: string; status: string; last_seen: string }[] => reports.flat().map((p) => p.data);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'], now: T0 });
  reports = [];
});

afterEach(() => {
  tracker?.stop();
  tracker = undefined;
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('startStalenessTracker', () => {
  it('reports a source on a 1 s interval stale after the 5 s floor, with when it was last seen', () => {
    const t = start();
    publish(t, 'web-1', 1000, 5);
    const lastSeen = new Date(Date.now()).toISOString();
    vi.advanceTimersByTime(4000);
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(flat()).toEqual([{ source: 'web-1', status: 'stale', last_seen: lastSeen }]);
    expect(reports[0]![0]!.type).toBe('source_status');
  });

  it('learns a longer interval: a source on 10 s is stale after 3 intervals (30 s), not after the floor', () => {
    const t = start();
    publish(t, 'batch-host', 10_000, 4);
    vi.advanceTimersByTime(29_000);
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(flat().map((s) => s.status)).toEqual(['stale']);
  });

  it('honours staleAfterIntervals and staleFloorMs', () => {
    const t = start(2, 200);
    publish(t, 'fast', 300, 4);
    vi.advanceTimersByTime(550);
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(100); // 600 ms = 2 × 300 ms, checked every 50 ms
    expect(flat().map((s) => s.status)).toEqual(['stale']);
  });

  it('does not count the gaps within one publication (several metrics at once) as the interval', () => {
    const t = start(3, 100);
    publish(t, 'web-1', 1000, 4); // every second: cpu and memory 0 ms apart
    vi.advanceTimersByTime(2900);
    expect(reports).toEqual([]); // had the 0 ms gaps counted, the limit would have been ~the 100 ms floor
    vi.advanceTimersByTime(200);
    expect(flat().map((s) => s.status)).toEqual(['stale']);
  });

  it('reports the source live again with its next metric, at once', () => {
    const t = start();
    publish(t, 'web-1', 1000, 3);
    vi.advanceTimersByTime(6000);
    expect(flat().map((s) => s.status)).toEqual(['stale']);
    t.observe(metric('cpu', 1, 'web-1'));
    expect(flat()).toEqual([
      expect.objectContaining({ status: 'stale' }),
      { source: 'web-1', status: 'live', last_seen: new Date(Date.now()).toISOString() },
    ]);
    t.observe(metric('memory', 1, 'web-1'));
    expect(reports).toHaveLength(2); // once per transition
  });

  it('keeps a stale source stale, reporting it once however long it stays silent', () => {
    const t = start();
    publish(t, 'web-1', 1000, 3);
    vi.advanceTimersByTime(60_000);
    expect(reports).toHaveLength(1);
  });

  it('tracks each source on its own, in one batch per check', () => {
    const t = start(3, 1000);
    for (let i = 0; i < 3; i++) {
      t.observe(metric('cpu', 1, 'a'));
      if (i < 2) t.observe(metric('cpu', 1, 'b'));
      if (i < 2) t.observe(metric('cpu', 1, 'c'));
      vi.advanceTimersByTime(i < 2 ? 300 : 0);
    }
    // a, b and c: every 300 ms, so the 1 s floor; b and c stopped 300 ms before a.
    vi.advanceTimersByTime(700);
    expect(reports.map((batch) => batch.map((p) => p.data.source))).toEqual([['b', 'c']]);
    vi.advanceTimersByTime(500); // a is due 300 ms later; checks run every 250 ms (a quarter of the floor)
    expect(reports.map((batch) => batch.map((p) => p.data.source))).toEqual([['b', 'c'], ['a']]);
  });

  it('never reports a source seen in one publication only: without an interval, silence means nothing', () => {
    const t = start(3, 100);
    t.observe(metric('cpu', 1, 'deploy-note'));
    t.observe(metric('memory', 1, 'deploy-note'));
    vi.advanceTimersByTime(60_000);
    expect(reports).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('learns the interval of a producer faster than the burst window, publication by publication', () => {
    const t = start(3, 100);
    for (let i = 0; i < 40; i++) {
      t.observe(metric('cpu', 1, 'fast'));
      vi.advanceTimersByTime(10); // 100 per second: each 50 ms window is one publication
    }
    vi.advanceTimersByTime(150);
    expect(flat().map((s) => s.status)).toEqual(['stale']);
  });

  it('keeps "web-1" and "web-1:/var" apart: the source as published is the key', () => {
    const t = start(3, 1000);
    for (let i = 0; i < 3; i++) {
      t.observe(metric('cpu', 1, 'web-1'));
      t.observe(metric('disk', 1, 'web-1:/var'));
      vi.advanceTimersByTime(500);
    }
    for (let i = 0; i < 4; i++) {
      t.observe(metric('cpu', 1, 'web-1'));
      vi.advanceTimersByTime(500);
    }
    expect(flat().map((s) => `${s.source} ${s.status}`)).toEqual(['web-1:/var stale']);
  });

  it('ignores container status and alerts', () => {
    const t = start(3, 100);
    t.observe(container('db'));
    t.observe(alert('critical'));
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(reports).toEqual([]);
  });

  it('runs one timer for all sources, only while one of them can still go stale', () => {
    const t = start();
    expect(vi.getTimerCount()).toBe(0);
    for (let i = 0; i < 50; i++) t.observe(metric('cpu', 1, `host-${i}`));
    expect(vi.getTimerCount()).toBe(0); // no interval known yet
    vi.advanceTimersByTime(1000);
    for (let i = 0; i < 50; i++) t.observe(metric('cpu', 1, `host-${i}`));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(6000);
    expect(reports.flat()).toHaveLength(50);
    expect(vi.getTimerCount()).toBe(0); // all stale: nothing to check until one publishes again
    t.observe(metric('cpu', 1, 'host-7'));
    expect(vi.getTimerCount()).toBe(1);
  });

  it('learns little from an outage: after a long silence a 1 s source is stale again after ~5 s, not after minutes', () => {
    const t = start(3, 1000);
    publish(t, 'web-1', 1000, 5);
    vi.advanceTimersByTime(600_000); // ten minutes of silence (a Redis outage, a reboot)
    publish(t, 'web-1', 1000, 5);
    expect(flat().map((s) => s.status)).toEqual(['stale', 'live']);
    vi.advanceTimersByTime(12_000);
    expect(flat().map((s) => s.status)).toEqual(['stale', 'live', 'stale']);
  });

  it('learns a producer that really slowed down within a few publications', () => {
    const t = start(3, 1000);
    publish(t, 'web-1', 1000, 5);
    // Now every 60 s: stale before each of the first few, then learnt.
    for (let i = 0; i < 12; i++) {
      vi.advanceTimersByTime(60_000);
      t.observe(metric('cpu', 1, 'web-1'));
    }
    const flaps = flat().filter((s) => s.status === 'stale').length;
    expect(flaps).toBeGreaterThan(0);
    expect(flaps).toBeLessThan(8);
    reports = [];
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(60_000);
      t.observe(metric('cpu', 1, 'web-1'));
    }
    expect(reports).toEqual([]);
  });

  it('lists the stale sources for a new client, as the same array until something changes', () => {
    const t = start(3, 1000);
    for (let i = 0; i < 2; i++) {
      t.observe(metric('cpu', 1, 'a'));
      t.observe(metric('cpu', 1, 'b'));
      vi.advanceTimersByTime(100);
    }
    expect(t.staleDeliveries()).toEqual([]);
    vi.advanceTimersByTime(1000);
    const first = t.staleDeliveries();
    expect(first.map((d) => (JSON.parse(d.json) as SourceStatusPacket).data.source)).toEqual(['a', 'b']);
    expect(first.map((d) => d.conflationKey)).toEqual(['source_status:a', 'source_status:b']);
    expect(t.staleDeliveries()).toBe(first);
    t.observe(metric('cpu', 1, 'a'));
    expect(t.staleDeliveries().map((d) => (JSON.parse(d.json) as SourceStatusPacket).data.source)).toEqual(['b']);
  });

  it('narrows the stale list to what a filter lets through, one shared array per filter until something changes', () => {
    const t = start(3, 1000);
    for (let i = 0; i < 2; i++) {
      for (const source of ['tenant-a', 'tenant-a:/var', 'tenant-b']) t.observe(metric('cpu', 1, source));
      vi.advanceTimersByTime(100);
    }
    vi.advanceTimersByTime(1000);
    const sourcesOf = (list: readonly Delivery[]) => list.map((d) => (JSON.parse(d.json) as SourceStatusPacket).data.source);
    const tenantA = { types: null, sources: [new Set(['tenant-a'])] };
    expect(sourcesOf(t.staleDeliveries())).toEqual(['tenant-a', 'tenant-a:/var', 'tenant-b']);
    const a = t.staleDeliveries(tenantA);
    expect(sourcesOf(a)).toEqual(['tenant-a', 'tenant-a:/var']);
    expect(t.staleDeliveries({ types: null, sources: [new Set(['tenant-a'])] })).toBe(a); // equal filter, same array
    expect(t.staleDeliveries({ types: null, sources: [new Set(['tenant-c'])] })).toEqual([]);
    expect(t.staleDeliveries({ types: new Set(['alert'] as const) })).toEqual([]);
    expect(t.staleDeliveries({ types: null })).toBe(t.staleDeliveries()); // unfiltered: the whole list
    t.observe(metric('cpu', 1, 'tenant-a'));
    expect(sourcesOf(t.staleDeliveries(tenantA))).toEqual(['tenant-a:/var']);
  });

  it('with staleAfterIntervals 0 tracks nothing and starts no timer', () => {
    const t = start(0);
    publish(t, 'web-1', 1000, 3);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(reports).toEqual([]);
  });

  it('reports nothing and starts no timer after stop()', () => {
    const t = start();
    t.observe(metric('cpu', 1, 'web-1'));
    t.stop();
    t.stop();
    t.observe(metric('cpu', 1, 'web-1'));
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(reports).toEqual([]);
  });
});
