import { describe, expect, it } from 'vitest';
import { sourceStatusDelivery } from '../../../../src/server/fanout/delivery.js';
import { SnapshotStore } from '../../../../src/server/state/snapshot.js';
import { alert, container, metric } from '../../../helpers/fixtures.js';

describe('SnapshotStore', () => {
  it('keeps the latest envelope per key in order of last update', () => {
    const store = new SnapshotStore(10);
    store.update(metric('cpu', 1));
    store.update(metric('memory', 2));
    store.update(metric('cpu', 3));
    expect(store.envelopes().map((e) => e.type === 'system_metric' && e.data.value)).toEqual([2, 3]);
  });

  it('forgets the least recently updated key past maxKeys', () => {
    const store = new SnapshotStore(2);
    store.update(metric('a'));
    store.update(metric('b'));
    store.update(metric('a'));
    store.update(metric('c'));
    expect(store.envelopes().map((e) => e.type === 'system_metric' && e.data.metric_type)).toEqual(['a', 'c']);
  });

  it('drops an alert when it is resolved', () => {
    const store = new SnapshotStore(10);
    store.update(alert('critical'));
    store.update(container('db'));
    store.update(alert('resolved'));
    expect(store.envelopes().map((e) => e.type)).toEqual(['container_status']);
  });

  it('serializes once until the next change', () => {
    const store = new SnapshotStore(10);
    store.update(metric());
    const first = store.json();
    expect(store.json()).toBe(first);
    store.update(metric('memory'));
    expect(store.json()).not.toBe(first);
    expect(JSON.parse(store.json()).data).toHaveLength(2);
  });

  it('puts extra control packets (stale sources) after the envelopes and before snapshot_end, caching per extra array', () => {
    const store = new SnapshotStore(10);
    store.update(metric('cpu', 1, 'web-1'));
    const stale = [sourceStatusDelivery({ source: 'web-1', status: 'stale', last_seen: '2026-01-17T04:30:00.000Z' })];
    const deliveries = store.deliveries(null, stale);
    expect(deliveries.map((d) => d.type)).toEqual(['system_metric', 'source_status', 'snapshot_end']);
    expect(JSON.parse(deliveries[2]!.json)).toEqual({ type: 'snapshot_end', data: { count: 1 } });
    expect(store.deliveries(null, stale)).toBe(deliveries);
    expect(store.deliveries(null, [])).toBe(store.deliveries());
    expect(store.deliveries({ types: new Set(['alert']) }, stale).map((d) => d.type)).toEqual(['source_status', 'snapshot_end']);
    store.update(metric('memory', 2, 'web-1'));
    expect(store.deliveries(null, stale)).not.toBe(deliveries);
    expect(store.deliveries(null, stale).map((d) => d.type)).toEqual(['system_metric', 'system_metric', 'source_status', 'snapshot_end']);
  });

  it('serializes each key once while other keys change: a handshake under traffic re-serializes only what changed', () => {
    const store = new SnapshotStore(1000);
    for (let i = 0; i < 100; i++) store.update(metric('cpu', i, `host-${i}`));
    const before = store.deliveries();
    store.update(metric('cpu', 1000, 'host-0')); // one key changes
    const after = store.deliveries();
    expect(after).not.toBe(before);
    expect(after).toHaveLength(101);
    // The 99 keys that did not change keep the very same packet (their JSON string is not rebuilt).
    const reused = after.filter((d) => before.includes(d));
    expect(reused).toHaveLength(99);
    expect(JSON.parse(after.at(-2)!.json).data.value).toBe(1000);
  });

  it('builds the HTTP snapshot from the cached packets, equal to serializing the envelopes', () => {
    const store = new SnapshotStore(10);
    expect(store.json()).toBe('{"type":"snapshot","data":[]}');
    store.update(metric('cpu', 1));
    store.update(container('db'));
    store.update(alert('critical'));
    expect(store.json()).toBe(JSON.stringify({ type: 'snapshot', data: store.envelopes() }));
    expect(store.json({ types: new Set(['container_status']) })).toBe(
      JSON.stringify({ type: 'snapshot', data: store.envelopes().filter((e) => e.type === 'container_status') }),
    );
  });

  it('caches the array with extra packets per filter too, so filtered clients share its chunks', () => {
    const store = new SnapshotStore(10);
    store.update(metric('cpu', 1, 'web-1'));
    const stale = [sourceStatusDelivery({ source: 'web-1', status: 'stale', last_seen: '2026-01-17T04:30:00.000Z' })];
    const filter = { types: new Set(['system_metric'] as const) };
    expect(store.deliveries(filter, stale)).toBe(store.deliveries({ types: new Set(['system_metric'] as const) }, stale));
  });
});
