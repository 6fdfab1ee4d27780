import { describe, expect, it } from 'vitest';
import {
  canSee,
  filterKey,
  MAX_FILTER_VALUES,
  requestedFilter,
  sourceMatches,
  type ClientFilter,
} from '../../../../src/server/fanout/client-filter.js';
import {
  controlDelivery,
  envelopeDelivery,
  HEARTBEAT,
  redisDownDelivery,
  snapshotEndDelivery,
} from '../../../../src/server/fanout/delivery.js';
import { statusDelivery } from '../../../../src/server/state/source-staleness.js';
import { envelopeKey, type Envelope } from '../../../../src/protocol/wire.js';
import { alert, container, metric } from '../../../helpers/fixtures.js';

const delivery = (envelope: Envelope) => envelopeDelivery(envelope, envelopeKey(envelope));
const set = (...values: string[]): ReadonlySet<string> => new Set(values);

describe('sourceMatches', () => {
  it('matches a source exactly, or as the host of the sentinel’s <host>:<part> and <host>/<container> names', () => {
    const allowed = set('web-1', 'db-2:/var');
    expect(sourceMatches(allowed, 'web-1')).toBe(true);
    expect(sourceMatches(allowed, 'web-1:/var')).toBe(true);
    expect(sourceMatches(allowed, 'web-1:eth0')).toBe(true);
    expect(sourceMatches(allowed, 'web-1/nginx')).toBe(true);
    expect(sourceMatches(allowed, 'db-2:/var')).toBe(true);
    // Not prefixes in general: only the host part counts.
    expect(sourceMatches(allowed, 'web-10')).toBe(false);
    expect(sourceMatches(allowed, 'web-1x:/var')).toBe(false);
    expect(sourceMatches(allowed, 'db-2:/var/log')).toBe(false);
    expect(sourceMatches(allowed, 'db-2')).toBe(false);
    expect(sourceMatches(allowed, 'web')).toBe(false);
  });
});

describe('canSee', () => {
  const all: ClientFilter = { types: null };

  it('lets control packets through whatever the filter', () => {
    const strict: ClientFilter = { types: set('alert') as never, sources: [set('nowhere')], metricTypes: set('none') };
    for (const d of [
      redisDownDelivery(),
      HEARTBEAT[0]!,
      controlDelivery({ type: 'status', data: { code: 200, message: 'OK', time: 't' } }),
    ]) {
      expect(canSee(strict, d)).toBe(true);
    }
  });

  it('ANDs types, sources and metric types; containers match on their name and pass any metric_type', () => {
    const f: ClientFilter = { types: null, sources: [set('web-1')], metricTypes: set('cpu', 'memory') };
    expect(canSee(f, delivery(metric('cpu', 1, 'web-1')))).toBe(true);
    expect(canSee(f, delivery(metric('disk', 1, 'web-1:/var')))).toBe(false);
    expect(canSee(f, delivery(metric('cpu', 1, 'web-2')))).toBe(false);
    expect(canSee(f, delivery(container('web-1/nginx')))).toBe(true);
    expect(canSee(f, delivery(container('web-2/nginx')))).toBe(false);
    expect(canSee(f, delivery(alert('critical')))).toBe(false); // the fixture's alert is cpu on "host"
    expect(canSee({ ...f, sources: [set('host')] }, delivery(alert('critical')))).toBe(true);
    expect(canSee({ ...f, types: set('system_metric') as never }, delivery(container('web-1/nginx')))).toBe(false);
    expect(canSee(all, delivery(container('x')))).toBe(true);
  });

  it('requires every source list to match (the request’s and the grant’s)', () => {
    const f: ClientFilter = { types: null, sources: [set('web-1', 'web-2'), set('web-2', 'web-3')] };
    expect(canSee(f, delivery(metric('cpu', 1, 'web-2')))).toBe(true);
    expect(canSee(f, delivery(metric('cpu', 1, 'web-1')))).toBe(false);
    expect(canSee(f, delivery(metric('cpu', 1, 'web-3')))).toBe(false);
  });
});

describe('canSee: source_status', () => {
  const status = (source: string) => statusDelivery({ source, status: 'stale', last_seen: '2026-01-17T04:30:00.000Z' });

  it('narrows source_status by source, with the same host rule as envelopes, for every source list', () => {
    const grant: ClientFilter = { types: null, sources: [set('tenant-a')] };
    expect(canSee(grant, status('tenant-a'))).toBe(true);
    expect(canSee(grant, status('tenant-a:/var'))).toBe(true);
    expect(canSee(grant, status('tenant-b'))).toBe(false);
    expect(canSee(grant, status('tenant-ab'))).toBe(false);
    const narrowed: ClientFilter = { types: null, sources: [set('tenant-a', 'tenant-b'), set('tenant-b')] };
    expect(canSee(narrowed, status('tenant-a'))).toBe(false);
    expect(canSee(narrowed, status('tenant-b'))).toBe(true);
  });

  it('lets source_status through only where system_metric is allowed; metric_type does not narrow it', () => {
    expect(canSee({ types: set('alert', 'container_status') as never }, status('web-1'))).toBe(false);
    expect(canSee({ types: set('system_metric') as never }, status('web-1'))).toBe(true);
    expect(canSee({ types: set() as never }, status('web-1'))).toBe(false);
    expect(canSee({ types: null, metricTypes: set('cpu') }, status('web-1'))).toBe(true);
    expect(canSee({ types: null }, status('web-1'))).toBe(true);
  });

  it('fails closed: a source_status without a source never reaches a client narrowed by source', () => {
    const bare = { type: 'source_status', json: '{}', conflationKey: null } as const;
    expect(canSee({ types: null, sources: [set('web-1')] }, bare)).toBe(false);
    expect(canSee({ types: null }, bare)).toBe(true);
  });

  it('still lets snapshot_end, error, status and heartbeat through any filter', () => {
    const none: ClientFilter = { types: set() as never, sources: [set()], metricTypes: set('none') };
    for (const d of [snapshotEndDelivery(0), redisDownDelivery(), HEARTBEAT[0]!]) expect(canSee(none, d)).toBe(true);
  });
});

describe('filterKey', () => {
  it('is the same for equal filters, whatever the order, and empty for no filter', () => {
    expect(filterKey({ types: null })).toBe('');
    expect(filterKey({ types: null, sources: [] })).toBe('');
    const a = filterKey({
      types: set('alert', 'system_metric') as never,
      sources: [set('b', 'a'), set('c')],
      metricTypes: set('cpu', 'disk'),
    });
    const b = filterKey({
      types: set('system_metric', 'alert') as never,
      sources: [set('c'), set('a', 'b')],
      metricTypes: set('disk', 'cpu'),
    });
    expect(a).toBe(b);
    expect(filterKey({ types: null, sources: [set('a')] })).not.toBe(filterKey({ types: null, metricTypes: set('a') }));
    expect(filterKey({ types: null, sources: [set('a', 'b')] })).not.toBe(filterKey({ types: null, sources: [set('a'), set('b')] }));
  });
});

describe('requestedFilter', () => {
  const parse = (query: string) => requestedFilter(new URLSearchParams(query));

  it('reads comma lists, repeated or not, and leaves absent ones undefined', () => {
    expect(parse('')).toEqual({ sources: undefined, metricTypes: undefined });
    expect(parse('source=a,b&source=c&metric_type=cpu')).toEqual({ sources: set('a', 'b', 'c'), metricTypes: set('cpu') });
    expect(parse('source=web-1%3A%2Fvar')).toEqual({ sources: set('web-1:/var'), metricTypes: undefined });
  });

  it('refuses (null) an empty list, too many values, a source over 256 characters, a metric type no envelope can have', () => {
    for (const bad of [
      'source=',
      'source=,,',
      'metric_type=',
      `source=${'a,'.repeat(MAX_FILTER_VALUES)}b`,
      `source=${'x'.repeat(257)}`,
      'metric_type=a:b',
      'metric_type=cpu,%20',
    ]) {
      expect(parse(bad)).toBeNull();
    }
  });
});
