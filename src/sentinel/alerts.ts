// Threshold alerts with hysteresis. Pure: no I/O, no clock; the metric carries its time.
import { invalidOption } from '../shared/errors.js';
import { numberOption, refuseUnknownKeys } from '../shared/option-kit.js';
import type { AlertMessage, SystemMetric } from '../protocol/wire.js';

/**
 * When a metric raises an alert. A series enters `warning` when its value reaches `warning` and
 * `critical` when it reaches `critical`, at once (the sample that crosses the line raises the alert).
 * It leaves a level only when the value falls below that level's line minus `hysteresis`, so a
 * value hovering at a line raises one alert, not one per sample.
 * @public
 */
export interface ThresholdSetting {
  /** The value at which a `warning` alert is raised. */
  readonly warning: number;
  /**
   * The value at which a `critical` alert is raised; at least `warning`. Leave it out for warnings only.
   * @defaultValue none (warnings only)
   */
  readonly critical?: number | undefined;
  /**
   * How far below a line the value must fall before the alert eases or resolves.
   * @defaultValue `5` for `cpu`, `memory` and `disk` (percentage points); 5 % of `warning` for other metrics
   */
  readonly hysteresis?: number | undefined;
}

/**
 * Alert thresholds by `metric_type`, applied to every `source` of that metric (every mount point for
 * `disk`). A number sets the warning line (the critical line keeps its default when that is higher);
 * `false` turns the metric's alerts off. Metrics not named, or set to `undefined`, keep their defaults
 * ({@link DEFAULT_THRESHOLDS}). A setting object with a field other than `warning`, `critical` and
 * `hysteresis` is refused.
 * @public
 */
export type AlertThresholds = Readonly<Record<string, ThresholdSetting | number | false | undefined>>;

/**
 * Default thresholds: `cpu`, `memory` and each mounted `disk` warn at 90 % and are critical at 95 %;
 * each level clears 5 points below its line (a warning at 90 % resolves below 85 %).
 * @public
 */
export const DEFAULT_THRESHOLDS: Readonly<Record<'cpu' | 'memory' | 'disk', Required<ThresholdSetting>>> = Object.freeze({
  cpu: Object.freeze({ warning: 90, critical: 95, hysteresis: 5 }),
  memory: Object.freeze({ warning: 90, critical: 95, hysteresis: 5 }),
  disk: Object.freeze({ warning: 90, critical: 95, hysteresis: 5 }),
});

/** A checked threshold: `critical` is `Infinity` when there is none. */
export interface ResolvedThreshold {
  readonly warning: number;
  readonly critical: number;
  readonly hysteresis: number;
}

/** The level a series is at. */
export type SeriesLevel = 'ok' | 'warning' | 'critical';

const SETTING_NAMES = ['warning', 'critical', 'hysteresis'] as const satisfies readonly (keyof ThresholdSetting)[];

/** Merges `input` over the defaults and checks it; throws `SST_ERR_INVALID_OPTION` naming the metric. */
export function resolveThresholds(input: AlertThresholds | undefined): ReadonlyMap<string, ResolvedThreshold> {
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    throw invalidOption('Expected `thresholds` to be an object keyed by metric_type, e.g. { cpu: 80 }');
  }
  const out = new Map<string, ResolvedThreshold>();
  const defaults: Readonly<Record<string, Required<ThresholdSetting> | undefined>> = DEFAULT_THRESHOLDS;
  const names = new Set([...Object.keys(DEFAULT_THRESHOLDS), ...Object.keys(input ?? {})]);
  for (const name of names) {
    const given = input && Object.hasOwn(input, name) ? input[name] : undefined;
    const fallback = defaults[name];
    if (given === false) continue;
    if (given === undefined) {
      if (fallback) out.set(name, { ...fallback });
      continue;
    }
    const where = `thresholds.${name}`;
    const setting: ThresholdSetting =
      typeof given === 'number'
        ? { warning: given, ...(fallback && fallback.critical >= given ? { critical: fallback.critical } : {}) }
        : given;
    if (typeof setting !== 'object' || setting === null || typeof setting.warning !== 'number' || !Number.isFinite(setting.warning)) {
      throw invalidOption(`Expected \`${where}\` to be a number, false, or { warning, critical?, hysteresis? } with finite numbers`);
    }
    refuseUnknownKeys(setting, SETTING_NAMES, `\`${where}\``);
    const { warning } = setting;
    const critical = setting.critical === undefined ? Infinity : numberOption(`${where}.critical`, setting.critical, { min: warning });
    const hysteresis = numberOption(`${where}.hysteresis`, setting.hysteresis ?? fallback?.hysteresis ?? Math.abs(warning) * 0.05, {
      min: 0,
    });
    out.set(name, { warning, critical, hysteresis });
  }
  return out;
}

/**
 * The level after `value`, given the level before. Raising is immediate; easing needs the value to
 * fall below the current level's line minus the hysteresis.
 */
export function nextLevel(current: SeriesLevel, value: number, t: ResolvedThreshold): SeriesLevel {
  if (value >= t.critical) return 'critical';
  if (current === 'critical' && value >= t.critical - t.hysteresis) return 'critical';
  if (value >= t.warning) return 'warning';
  if (current !== 'ok' && value >= t.warning - t.hysteresis) return 'warning';
  return 'ok';
}

/**
 * Tracks each series' level (one per `metric_type` and `source`) and returns an `alert` envelope when
 * the level changes: `warning` or `critical` when it rises (or eases from critical to warning), and
 * `resolved` when it falls back to ok. Only series above ok are remembered (with the alert that put
 * them there, for {@link AlertTracker.active}), so memory stays bounded by the number of series in alarm.
 */
export class AlertTracker {
  readonly #thresholds: ReadonlyMap<string, ResolvedThreshold>;
  readonly #active = new Map<string, AlertMessage>();

  constructor(thresholds: ReadonlyMap<string, ResolvedThreshold>) {
    this.#thresholds = thresholds;
  }

  /**
   * The latest alert of every series still in alarm, as it was first sent (same level, value and time:
   * the time says since when), oldest change first. Resolved series are not in it.
   */
  active(): AlertMessage[] {
    return [...this.#active.values()];
  }

  update(metric: SystemMetric): AlertMessage | null {
    const t = this.#thresholds.get(metric.metric_type);
    if (!t) return null;
    const key = `${metric.metric_type}:${metric.source}`;
    const before = levelOf(this.#active.get(key));
    const after = nextLevel(before, metric.value, t);
    if (after === before) return null;
    const alert = this.#alert(metric, t, before, after);
    this.#active.delete(key);
    if (after !== 'ok') this.#active.set(key, alert);
    return alert;
  }

  #alert(metric: SystemMetric, t: ResolvedThreshold, before: SeriesLevel, after: SeriesLevel): AlertMessage {
    const unit = unitSuffix(metric.meta?.['unit']);
    const shown = (n: number): string => `${Math.round(n * 10) / 10}${unit}`;
    const what = `${metric.metric_type} on ${metric.source}`;
    const threshold = after === 'critical' ? t.critical : t.warning;
    let message: string;
    if (after === 'ok') {
      message = `${what} back to ${shown(metric.value)}, below ${shown(t.warning - t.hysteresis)} (threshold ${shown(t.warning)})`;
    } else if (before === 'critical') {
      // The value may already be below the warning line: the warning then holds by its hysteresis. Say
      // when it clears, which is true either way, rather than claiming the value is above the line.
      message = `${what} eased to ${shown(metric.value)}, below ${shown(t.critical - t.hysteresis)} (critical threshold ${shown(t.critical)}); still a warning until below ${shown(t.warning - t.hysteresis)} (warning threshold ${shown(t.warning)})`;
    } else {
      message = `${what} at ${shown(metric.value)} (${after} threshold ${shown(threshold)})`;
    }
    return {
      type: 'alert',
      data: {
        level: after === 'ok' ? 'resolved' : after,
        metric_type: metric.metric_type,
        source: metric.source,
        value: metric.value,
        threshold,
        message: message.slice(0, 1024),
        time: metric.time,
      },
    };
  }
}

function levelOf(alert: AlertMessage | undefined): SeriesLevel {
  const level = alert?.data.level;
  return level === 'warning' || level === 'critical' ? level : 'ok';
}

/** How a value's unit is written in an alert message: `93.1 %`, `4.2` (a load average), `1200 bytes/s`. */
function unitSuffix(unit: unknown): string {
  if (unit === 'percent') return ' %';
  if (typeof unit !== 'string' || unit === '' || unit === 'load') return '';
  return ` ${unit}`;
}
