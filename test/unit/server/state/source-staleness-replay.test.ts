// Priming the staleness tracker with values read back from the Redis stream (loaded at start, or missed
// during an outage): they count as seen at their own time, so a host that died before a restart goes stale.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Delivery } from '../../../../src/server/fanout/delivery.js';
import type { SourceStatusPacket } from '../../../../src/protocol/wire.js';
import { startStalenessTracker, type StalenessTracker } from '../../../../src/server/state/source-staleness.js';
import { metric } from '../../../helpers/fixtures.js';

const T0 = new Date('2026-01-17T04:30:00Z').getTime();
const iso = (ms: number): string => new Date(ms).toISOString();

let tracker: StalenessTracker | undefined;
let reports: SourceStatusPacket['data'][];

function start(): StalenessTracker {
  tracker = startStalenessTracker({ staleAfterIntervals: 3, staleFloorMs: 5000 }, (batch: readonly Delivery[]) =>
    reports.push(...batch.map((d) => (JSON.parse(d.json) as SourceStatusPacket).data)),
  );
  return tracker;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'], now: T0 });
  reports = [];
});

afterEach(() => {
  tracker?.stop();
  tracker = undefined;
  vi.useRealTimers();
});

describe('startStalenessTracker: values read back from the Redis stream', () => {
  it('reports a host whose replayed metrics stopped two minutes ago stale at the first check', () => {
    const t = start();
    // Loaded at start: one metric a second for a minute, ending two minutes before now.
    for (let i = 0; i < 60; i++) t.observe(metric('cpu', i, 'dead-host', iso(T0 - 180_000 + i * 1000)), true);
    vi.advanceTimersByTime(1000);
    expect(reports).toEqual([{ source: 'dead-host', status: 'stale', last_seen: iso(T0 - 121_000) }]);
  });

  it('(control) the same values received live count as seen now, and the host is not stale yet', () => {
    const t = start();
    for (let i = 0; i < 60; i++) t.observe(metric('cpu', i, 'dead-host', iso(T0 - 180_000 + i * 1000)));
    vi.advanceTimersByTime(1000);
    expect(reports).toEqual([]);
  });

  it('learns the interval from replayed times, and a host still publishing stays live', () => {
    const t = start();
    for (let i = 0; i < 10; i++) t.observe(metric('cpu', i, 'web-1', iso(T0 - 10_000 + i * 1000)), true);
    vi.advanceTimersByTime(1000);
    t.observe(metric('cpu', 10, 'web-1'));
    vi.advanceTimersByTime(1000);
    t.observe(metric('cpu', 11, 'web-1'));
    vi.advanceTimersByTime(1000);
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(5000); // silent past the floor (interval 1 s × 3 < 5 s floor)
    expect(reports.map((r) => r.status)).toEqual(['stale']);
  });

  it('an old replayed value neither moves last_seen back nor makes a stale host live', () => {
    const t = start();
    for (let i = 0; i < 3; i++) {
      if (i > 0) vi.advanceTimersByTime(1000);
      t.observe(metric('cpu', i, 'web-1'));
    }
    vi.advanceTimersByTime(6000);
    expect(reports.map((r) => r.status)).toEqual(['stale']);
    t.observe(metric('cpu', 9, 'web-1', iso(T0 - 60_000)), true);
    expect(reports.map((r) => r.status)).toEqual(['stale']);
    t.observe(metric('cpu', 9, 'web-1', iso(Date.now() - 500)), true); // missed during an outage, recent
    expect(reports.map((r) => r.status)).toEqual(['stale', 'live']);
  });

  it('a replayed time in the future counts as now', () => {
    const t = start();
    t.observe(metric('cpu', 1, 'web-1', iso(T0 - 2000)), true);
    t.observe(metric('cpu', 2, 'web-1', iso(T0 - 1000)), true);
    t.observe(metric('cpu', 3, 'web-1', iso(T0 + 3_600_000)), true);
    vi.advanceTimersByTime(6000);
    expect(reports).toEqual([{ source: 'web-1', status: 'stale', last_seen: iso(T0) }]);
  });
});
