import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRefusalSummary } from '../../../../src/server/handshake/refusal-summary.js';

describe('createRefusalSummary', () => {
  let lines: { obj: object; msg: string }[];
  beforeEach(() => {
    vi.useFakeTimers();
    lines = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const log = (obj: object, msg: string): void => void lines.push({ obj, msg });

  it('logs the first refusal at once, then one summary by outcome per interval, the tail from its timer', () => {
    const summary = createRefusalSummary(log, 10_000);
    summary.refused('unauthorized');
    expect(lines).toEqual([{ obj: { event: 'handshakes_refused', refused: { unauthorized: 1 }, total: 1 }, msg: 'handshakes refused' }]);
    for (let i = 0; i < 9_998; i++) summary.refused('unauthorized');
    summary.refused('full');
    expect(lines).toHaveLength(1); // nothing more inside the interval
    vi.advanceTimersByTime(9_999);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lines[1]).toEqual({
      obj: { event: 'handshakes_refused', refused: { unauthorized: 9_998, full: 1 }, total: 9_999 },
      msg: 'handshakes refused',
    });
    // Quiet: the timer is gone and nothing else is logged.
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(2);
    // After a quiet interval the next refusal is logged at once again.
    summary.refused('forbidden');
    expect(lines[2]?.obj).toEqual({ event: 'handshakes_refused', refused: { forbidden: 1 }, total: 1 });
  });

  it('reports what is left on close() and stops its timer', () => {
    const summary = createRefusalSummary(log, 10_000);
    summary.refused('bad_request');
    summary.refused('timeout');
    summary.refused('timeout');
    expect(vi.getTimerCount()).toBe(1);
    summary.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(lines.map((l) => l.obj)).toEqual([
      { event: 'handshakes_refused', refused: { bad_request: 1 }, total: 1 },
      { event: 'handshakes_refused', refused: { timeout: 2 }, total: 2 },
    ]);
    summary.close(); // nothing left: no empty line
    expect(lines).toHaveLength(2);
  });
});
