import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SystemMetric } from '../../../src/protocol/wire.js';
import { AlertTracker, nextLevel, resolveThresholds } from '../../../src/sentinel/alerts.js';

// What an alert's message says must be true of the value it carries.

const metric = (value: number, i = 0): SystemMetric => ({
  time: new Date(Date.parse('2026-01-17T04:30:00Z') + i * 1000).toISOString(),
  metric_type: 'cpu',
  value,
  source: 'web-1',
  meta: { unit: 'percent' },
});

describe('alert messages', () => {
  it('critical eased to a value below the warning line: says the warning holds until it falls below the line minus hysteresis', () => {
    const tracker = new AlertTracker(resolveThresholds(undefined));
    tracker.update(metric(97, 0));
    const eased = tracker.update(metric(86.9, 1));
    expect(eased?.data).toMatchObject({ level: 'warning', value: 86.9, threshold: 90 });
    expect(eased?.data.message).toBe(
      'cpu on web-1 eased to 86.9 %, below 90 % (critical threshold 95 %); still a warning until below 85 % (warning threshold 90 %)',
    );
    expect(eased?.data.message).not.toMatch(/above/);
  });

  it('critical eased to a value still above the warning line: the same sentence, true as well', () => {
    const tracker = new AlertTracker(resolveThresholds({ cpu: { warning: 80, critical: 99, hysteresis: 5 } }));
    tracker.update(metric(99.5, 0));
    const eased = tracker.update(metric(91, 1));
    expect(eased?.data.message).toBe(
      'cpu on web-1 eased to 91 %, below 94 % (critical threshold 99 %); still a warning until below 75 % (warning threshold 80 %)',
    );
  });

  it('for any thresholds and values, an eased alert is below the critical line minus hysteresis and at or above the warning line minus hysteresis', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 80 }),
        fc.integer({ min: 1, max: 15 }),
        fc.integer({ min: 1, max: 9 }),
        fc.array(
          fc.integer({ min: 0, max: 1000 }).map((n) => n / 10),
          { minLength: 1, maxLength: 30 },
        ),
        (warning, gap, hysteresis, values) => {
          const t = { warning, critical: warning + gap, hysteresis };
          const tracker = new AlertTracker(resolveThresholds({ cpu: t }));
          let level: 'ok' | 'warning' | 'critical' = 'ok';
          values.forEach((v, i) => {
            const before = level;
            level = nextLevel(level, v, { ...t });
            const alert = tracker.update(metric(v, i));
            if (before === 'critical' && level === 'warning') {
              expect(alert?.data.message).toMatch(/ eased to .*; still a warning until below /);
              expect(v).toBeLessThan(t.critical - t.hysteresis);
              expect(v).toBeGreaterThanOrEqual(t.warning - t.hysteresis);
            }
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
