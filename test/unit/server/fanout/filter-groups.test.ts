import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { ClientFilter } from '../../../../src/server/fanout/client-filter.js';
import { envelopeDelivery, encodeFrames, redisDownDelivery, type Delivery } from '../../../../src/server/fanout/delivery.js';
import { createFilterGroups } from '../../../../src/server/fanout/filter-groups.js';
import { statusDelivery } from '../../../../src/server/state/source-staleness.js';
import { envelopeKey, type Envelope } from '../../../../src/protocol/wire.js';
import { metric } from '../../../helpers/fixtures.js';

const delivery = (envelope: Envelope) => envelopeDelivery(envelope, envelopeKey(envelope));
const bySource = (...sources: string[]): ClientFilter => ({ types: null, sources: [new Set(sources)] });

describe('createFilterGroups', () => {
  it('gives clients with equal filters one shared array per batch, filtered once per group', () => {
    const batches = new Subject<readonly Delivery[]>();
    const groups = createFilterGroups(batches);
    const received = new Map<string, (readonly Delivery[])[]>();
    const join = (name: string, filter: ClientFilter) => {
      const list: (readonly Delivery[])[] = [];
      received.set(name, list);
      return groups.join(filter).subscribe((b) => list.push(b));
    };
    const subs = [join('a1', bySource('a')), join('a2', bySource('a')), join('b', bySource('b')), join('all', { types: null })];
    expect(groups.size).toBe(1 + 1); // 'a' and 'b'; the unfiltered client reads the batches themselves

    // Count how often a filter looks at a delivery: once per group, not once per client.
    let looks = 0;
    const counted = (envelope: Envelope): Delivery => {
      const d = delivery(envelope);
      let source = d.source;
      return Object.defineProperty({ ...d }, 'source', {
        get: () => {
          looks++;
          return source;
        },
        set: (v: string) => (source = v),
      });
    };
    const batch = [counted(metric('cpu', 1, 'a')), counted(metric('cpu', 2, 'b')), counted(metric('cpu', 3, 'a:/var'))];
    batches.next(batch);
    const looksPerBatch = looks;
    expect(looksPerBatch).toBeGreaterThan(0);
    // Ten more clients with the same filter cost nothing more per batch.
    const more = Array.from({ length: 10 }, () => groups.join(bySource('a')).subscribe());
    looks = 0;
    batches.next([counted(metric('cpu', 1, 'a')), counted(metric('cpu', 2, 'b')), counted(metric('cpu', 3, 'a:/var'))]);
    expect(looks).toBe(looksPerBatch);
    for (const sub of more) sub.unsubscribe();

    const [a1] = received.get('a1')!;
    const [a2] = received.get('a2')!;
    expect(a1).toBe(a2); // the same array: encoded once for the group
    expect(encodeFrames(a1!)).toBe(encodeFrames(a2!));
    expect(a1!.map((d) => d.source)).toEqual(['a', 'a:/var']);
    expect(received.get('b')![0]!.map((d) => d.source)).toEqual(['b']);
    expect(received.get('all')![0]).toBe(batch);

    // A batch nobody in a group can see sends that group nothing; control packets reach everyone.
    batches.next([delivery(metric('cpu', 4, 'c'))]);
    batches.next([redisDownDelivery()]);
    expect(received.get('a1')).toHaveLength(3);
    expect(received.get('b')).toHaveLength(3);
    expect(received.get('all')).toHaveLength(4);

    // A group ends with its last client.
    subs[0]!.unsubscribe();
    expect(groups.size).toBe(2);
    subs[1]!.unsubscribe();
    expect(groups.size).toBe(1);
    join('a3', bySource('a'));
    expect(groups.size).toBe(2);
    batches.next([delivery(metric('cpu', 5, 'a'))]);
    expect(received.get('a3')).toHaveLength(1);
  });

  it('narrows a batch of source_status packets per group: each client sees only its sources, encoded once per group', () => {
    const batches = new Subject<readonly Delivery[]>();
    const groups = createFilterGroups(batches);
    const got = (filter: ClientFilter): (readonly Delivery[])[] => {
      const list: (readonly Delivery[])[] = [];
      groups.join(filter).subscribe((b) => list.push(b));
      return list;
    };
    const [a1, a2, b, alertsOnly, all] = [
      got(bySource('tenant-a')),
      got(bySource('tenant-a')),
      got(bySource('tenant-b')),
      got({ types: new Set(['alert'] as const) }),
      got({ types: null }),
    ];
    const status = (source: string) => statusDelivery({ source, status: 'stale', last_seen: '2026-01-17T04:30:00.000Z' });
    const batch = [status('tenant-a'), status('tenant-b:/var'), status('tenant-a:eth0')];
    batches.next(batch);
    const sources = (list: (readonly Delivery[])[]) => list.flat().map((d) => d.source);
    expect(sources(a1)).toEqual(['tenant-a', 'tenant-a:eth0']);
    expect(a1[0]).toBe(a2[0]);
    expect(encodeFrames(a1[0]!)).toBe(encodeFrames(a2[0]!));
    expect(sources(b)).toEqual(['tenant-b:/var']);
    expect(alertsOnly).toEqual([]); // no packet at all, not an empty one
    expect(all[0]).toBe(batch);
    batches.next([status('tenant-c')]);
    expect([a1, b, alertsOnly].map((l) => l.length)).toEqual([1, 1, 0]);
  });
});
