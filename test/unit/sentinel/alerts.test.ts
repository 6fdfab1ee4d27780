import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeValidator } from '../../../src/shared/envelope-validator.js';
import { SystemStreamError } from '../../../src/shared/errors.js';
import type { AlertLevel, SystemMetric } from '../../../src/protocol/wire.js';
import { AlertTracker, DEFAULT_THRESHOLDS, nextLevel, resolveThresholds, type AlertThresholds } from '../../../src/sentinel/alerts.js';

const T0 = Date.parse('2026-01-17T04:30:00Z');
const sample = (value: number, i = 0, metric_type = 'cpu', source = 'host'): SystemMetric => ({
  time: new Date(T0 + i * 1000).toISOString(),
  metric_type,
  value,
  source,
  meta: { unit: 'percent' },
});

/** Feeds `values` to a fresh tracker and returns the alert levels raised, in order. */
function levels(values: readonly number[], thresholds?: AlertThresholds): AlertLevel[] {
  const tracker = new AlertTracker(resolveThresholds(thresholds));
  return values.flatMap((v, i) => tracker.update(sample(v, i))?.data.level ?? []);
}

describe('resolveThresholds', () => {
  it('defaults cpu, memory and disk to warning 90, critical 95, hysteresis 5', () => {
    expect(Object.fromEntries(resolveThresholds(undefined))).toEqual({
      cpu: { warning: 90, critical: 95, hysteresis: 5 },
      memory: { warning: 90, critical: 95, hysteresis: 5 },
      disk: { warning: 90, critical: 95, hysteresis: 5 },
    });
    expect(DEFAULT_THRESHOLDS.cpu).toEqual({ warning: 90, critical: 95, hysteresis: 5 });
  });

  it('takes a number as the warning line and keeps the default critical line when it is higher', () => {
    const t = resolveThresholds({ cpu: 80, disk: 97 });
    expect(t.get('cpu')).toEqual({ warning: 80, critical: 95, hysteresis: 5 });
    expect(t.get('disk')).toEqual({ warning: 97, critical: Infinity, hysteresis: 5 });
    expect(t.get('memory')).toEqual({ warning: 90, critical: 95, hysteresis: 5 });
  });

  it('keeps the defaults of a metric set to undefined, and of a setting field set to undefined', () => {
    const t = resolveThresholds({ cpu: undefined, memory: { warning: 80, critical: undefined, hysteresis: undefined } });
    expect(t.get('cpu')).toEqual({ warning: 90, critical: 95, hysteresis: 5 });
    expect(t.get('memory')).toEqual({ warning: 80, critical: Infinity, hysteresis: 5 });
  });

  it('turns a metric off with false and adds metrics without defaults, with 5 % of the line as hysteresis', () => {
    const t = resolveThresholds({ memory: false, load: { warning: 4, critical: 8 } });
    expect(t.has('memory')).toBe(false);
    expect(t.get('load')).toEqual({ warning: 4, critical: 8, hysteresis: 0.2 });
  });

  it.each([
    [
      'a critical line below the warning line',
      { cpu: { warning: 90, critical: 80 } },
      /`thresholds\.cpu\.critical` to be a finite number >= 90, got 80/,
    ],
    ['an infinite critical line', { cpu: { warning: 90, critical: Infinity } }, /`thresholds\.cpu\.critical`.*got Infinity/],
    ['a negative hysteresis', { cpu: { warning: 90, hysteresis: -1 } }, /`thresholds\.cpu\.hysteresis` to be a finite number >= 0, got -1/],
    [
      'a misspelt field of a setting',
      { cpu: { warning: 90, critcal: 95 } },
      /Unknown option `critcal` of `thresholds\.cpu`; did you mean `critical`\?/,
    ],
    ['a string', { cpu: '90' }, /thresholds\.cpu/],
    ['NaN', { cpu: Number.NaN }, /thresholds\.cpu/],
    ['an array', [90], /`thresholds`/],
  ])('throws SST_ERR_INVALID_OPTION for %s', (_what, input, message) => {
    let thrown: unknown;
    try {
      resolveThresholds(input as never);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SystemStreamError);
    expect((thrown as SystemStreamError).code).toBe('SST_ERR_INVALID_OPTION');
    expect((thrown as Error).message).toMatch(message);
  });
});

describe('nextLevel', () => {
  const t = { warning: 90, critical: 95, hysteresis: 5 };
  it.each([
    ['ok', 89.99, 'ok'],
    ['ok', 90, 'warning'],
    ['ok', 95, 'critical'],
    ['warning', 85, 'warning'],
    ['warning', 84.99, 'ok'],
    ['warning', 96, 'critical'],
    ['critical', 90, 'critical'],
    ['critical', 89.99, 'warning'],
    ['critical', 85, 'warning'],
    ['critical', 84.99, 'ok'],
  ] as const)('from %s, %d leads to %s', (from, value, to) => {
    expect(nextLevel(from, value, t)).toBe(to);
  });
});

describe('AlertTracker', () => {
  it('raises one warning at the crossing and one resolved when the value falls below the line minus the hysteresis', () => {
    const tracker = new AlertTracker(resolveThresholds(undefined));
    expect(tracker.update(sample(50, 0))).toBeNull();
    expect(tracker.update(sample(91.25, 1))).toEqual({
      type: 'alert',
      data: {
        level: 'warning',
        metric_type: 'cpu',
        source: 'host',
        value: 91.25,
        threshold: 90,
        message: 'cpu on host at 91.3 % (warning threshold 90 %)',
        time: '2026-01-17T04:30:01.000Z',
      },
    });
    expect(tracker.update(sample(86, 2))).toBeNull();
    expect(tracker.update(sample(84, 3))).toEqual({
      type: 'alert',
      data: {
        level: 'resolved',
        metric_type: 'cpu',
        source: 'host',
        value: 84,
        threshold: 90,
        message: 'cpu on host back to 84 %, below 85 % (threshold 90 %)',
        time: '2026-01-17T04:30:03.000Z',
      },
    });
  });

  it('does not flap while a value hovers at the line', () => {
    expect(levels([89.9, 90.1, 89.8, 90.2, 89.5, 90.0, 88, 91, 86, 90.4])).toEqual(['warning']);
    expect(levels([94.9, 95.1, 94.5, 95.3, 93, 95.0, 91])).toEqual(['warning', 'critical']);
  });

  it('escalates to critical, eases to warning, then resolves', () => {
    expect(levels([50, 92, 96, 93, 91, 89, 80])).toEqual(['warning', 'critical', 'warning', 'resolved']);
    expect(levels([50, 99, 10])).toEqual(['critical', 'resolved']);
  });

  it('tracks each source on its own (every mount point of disk)', () => {
    const tracker = new AlertTracker(resolveThresholds(undefined));
    const raised = [
      tracker.update(sample(91, 0, 'disk', '/')),
      tracker.update(sample(50, 0, 'disk', '/data')),
      tracker.update(sample(92, 1, 'disk', '/')),
      tracker.update(sample(96, 1, 'disk', '/data')),
    ].map((a) => a && `${a.data.source}:${a.data.level}`);
    expect(raised).toEqual(['/:warning', null, null, '/data:critical']);
  });

  it('ignores metrics without a threshold and metrics turned off', () => {
    const tracker = new AlertTracker(resolveThresholds({ memory: false }));
    expect(tracker.update(sample(1e9, 0, 'net_rx', 'eth0'))).toBeNull();
    expect(tracker.update(sample(100, 0, 'memory'))).toBeNull();
  });

  it('raises only alerts the schema accepts', () => {
    const validate = envelopeValidator();
    const tracker = new AlertTracker(resolveThresholds({ load: 4 }));
    const load = (value: number): SystemMetric => ({ ...sample(value, 0, 'load'), meta: { unit: 'load' } });
    const raised = [tracker.update(load(5)), tracker.update(load(9)), tracker.update(load(1))];
    expect(raised.map((a) => a?.data.message ?? null)).toEqual([
      'load on host at 5 (warning threshold 4)',
      null,
      'load on host back to 1, below 3.8 (threshold 4)',
    ]);
    for (const a of raised) if (a) expect(validate(a)).toBe(true);
  });

  it('active() holds the latest alert of each series in alarm, and forgets a series once it resolves', () => {
    const tracker = new AlertTracker(resolveThresholds(undefined));
    const cpu = tracker.update(sample(97, 0));
    const disk = tracker.update(sample(91, 0, 'disk', 'web-1:/var'));
    expect(tracker.active()).toEqual([cpu, disk]);
    const eased = tracker.update(sample(89, 1));
    expect(eased?.data.level).toBe('warning');
    expect(tracker.active()).toEqual([disk, eased]);
    tracker.update(sample(80, 2));
    tracker.update(sample(10, 2, 'disk', 'web-1:/var'));
    expect(tracker.active()).toEqual([]);
  });

  describe('properties', () => {
    const t = { warning: 90, critical: 95, hysteresis: 5 };

    it('a value that stays within the hysteresis band after crossing raises exactly one alert', () => {
      fc.assert(
        fc.property(
          fc.array(fc.double({ min: t.warning - t.hysteresis, max: t.critical - 1e-9, noNaN: true }), { minLength: 1, maxLength: 200 }),
          (values) => {
            expect(levels([t.warning, ...values])).toEqual(['warning']);
          },
        ),
      );
    });

    it('levels alternate: never the same level twice in a row, and resolved only after a warning or critical', () => {
      fc.assert(
        fc.property(fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { maxLength: 300 }), (values) => {
          const raised = levels(values);
          for (let i = 1; i < raised.length; i++) expect(raised[i]).not.toBe(raised[i - 1]);
          if (raised.length > 0) expect(raised[0]).not.toBe('resolved');
        }),
      );
    });

    it('a series that ends below the line minus the hysteresis ends resolved (if it ever alerted)', () => {
      fc.assert(
        fc.property(fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { maxLength: 300 }), (values) => {
          const raised = levels([...values, t.warning - t.hysteresis - 0.01]);
          if (raised.length > 0) expect(raised.at(-1)).toBe('resolved');
        }),
      );
    });
  });
});
