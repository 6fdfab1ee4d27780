import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createStreamMetrics } from '../../src/server/http/metrics.js';
import { createCounters, createLabelledCounters } from '../../src/server/stats.js';
import { parseExposition } from '../helpers/prometheus.js';

interface Target {
  readonly expr: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly uid: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly definition?: string; readonly query?: unknown }[] };
}

const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as Dashboard;

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
  'atan2',
]);

/**
 * The metric names a PromQL expression selects: every identifier that is not a function call, a
 * keyword or a number, once strings, label matchers, ranges and grouping label lists are removed.
 * `label_values(metric, label)` (a Grafana variable query) selects its first argument.
 */
function metricNames(expr: string): string[] {
  const labelValues = /^\s*label_values\(\s*([^,)]+)/.exec(expr);
  if (labelValues) return metricNames(labelValues[1] as string);
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  const names: string[] = [];
  for (const match of bare.matchAll(/\$?[a-zA-Z_:][a-zA-Z0-9_:]*|\d[\w.]*/g)) {
    const token = match[0];
    if (/^\d/.test(token) || token.startsWith('$') || KEYWORDS.has(token.toLowerCase())) continue;
    if (/^\s*\(/.test(bare.slice((match.index ?? 0) + token.length))) continue; // a function
    names.push(token);
  }
  return names;
}

function expressions(panels: readonly Panel[]): { title: string; expr: string }[] {
  return panels.flatMap((p) => [...(p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })), ...expressions(p.panels ?? [])]);
}

/** Every series name a scrape of the stream's registry shows, `_bucket`, `_sum` and `_count` of its histograms included. */
async function exportedSeries(): Promise<Set<string>> {
  const source = { counters: createCounters(), labelled: createLabelledCounters(), clients: () => 0, isRedisUp: () => true };
  const metrics = createStreamMetrics(true, source);
  return new Set(parseExposition(await metrics.registry.metrics()).samples.map((s) => s.name));
}

describe('docs/grafana-dashboard.json', () => {
  const all = expressions(dashboard.panels);
  const variableQueries = dashboard.templating.list.flatMap((v) => (v.definition ? [{ title: `$${v.name}`, expr: v.definition }] : []));

  it('reads metric names out of PromQL, and so would catch a misspelt one', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(system_stream_delivery_lag_seconds_bucket{job=~"$job", le!="0.5"}[$__rate_interval])))',
      ),
    ).toEqual(['system_stream_delivery_lag_seconds_bucket']);
    expect(metricNames('sum(rate(a_total[5m] offset 1h)) / on (instance) group_left (x) b or vector(0) unless c > bool 2')).toEqual([
      'a_total',
      'b',
      'c',
    ]);
    expect(metricNames('label_values(system_stream_clients{job!=""}, job)')).toEqual(['system_stream_clients']);
    expect(metricNames('sum(rate(system_stream_deliverys_total[5m]))')).toEqual(['system_stream_deliverys_total']);
  });

  it('refers only to series the stream exports, in every panel and variable', async () => {
    const exported = await exportedSeries();
    expect(exported).toContain('system_stream_delivery_lag_seconds_bucket');
    expect(exported).toContain('system_stream_fanout_seconds_count');
    expect(all.length).toBeGreaterThan(10);
    for (const { title, expr } of [...all, ...variableQueries]) {
      const names = metricNames(expr);
      expect(names.length, `${title}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(exported, `${title}: ${name} in ${expr}`).toContain(name);
    }
  });

  it('shows clients, handshake outcomes, deliveries/s, invalid/s, delivery-lag p50 and p99, and Redis up', () => {
    const exprs = all.map((e) => e.expr.replace(/\s+/g, ' '));
    const has = (pattern: RegExp): boolean => exprs.some((e) => pattern.test(e));
    expect(has(/system_stream_clients\b/)).toBe(true);
    expect(has(/sum by \(outcome\) \(rate\(system_stream_handshakes_total/)).toBe(true);
    expect(has(/rate\(system_stream_deliveries_total/)).toBe(true);
    expect(has(/rate\(system_stream_invalid_messages_total/)).toBe(true);
    expect(has(/histogram_quantile\(0\.5, sum by \(le\) \(rate\(system_stream_delivery_lag_seconds_bucket/)).toBe(true);
    expect(has(/histogram_quantile\(0\.99, sum by \(le\) \(rate\(system_stream_delivery_lag_seconds_bucket/)).toBe(true);
    expect(has(/system_stream_redis_up\b/)).toBe(true);
    // Counters are only ever read through rate() or increase(), never as raw totals.
    for (const { expr } of all)
      for (const name of metricNames(expr).filter((n) => n.endsWith('_total') || n.endsWith('_bucket'))) {
        expect(expr, name).toMatch(new RegExp(`(rate|increase)\\(${name}\\b`));
      }
  });

  it('is a dashboard Grafana can import: a uid, unique panel ids, and the data source as a variable', () => {
    expect(dashboard.uid).toBe('system-stream');
    const panels = dashboard.panels as readonly (Panel & { id: number; datasource?: { uid: string } })[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels.filter((p) => p.type !== 'row')) expect(p.datasource?.uid, p.title).toBe('${datasource}');
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'job']);
  });
});
