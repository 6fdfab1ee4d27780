import { describe, expect, it } from 'vitest';
import { SnapshotStore } from '../../src/snapshot.js';
import { alert, container, metric } from '../helpers/fixtures.js';

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
});
