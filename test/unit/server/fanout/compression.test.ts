import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { FanoutCompression } from '../../../../src/server/fanout/compression.js';
import { envelopeDelivery, type Delivery } from '../../../../src/server/fanout/delivery.js';
import type { DeflatePeer } from '../../../../src/server/fanout/shared-deflate.js';
import { metric } from '../../../helpers/fixtures.js';

const SETTINGS = { level: 1, windowBits: 12, memLevel: 4, resetEvery: 50 };
const PEER: DeflatePeer = { noContextTakeover: false, maxWindowBits: 15 };
const batchOf = (...values: number[]): Delivery[] => values.map((v) => envelopeDelivery(metric('cpu', v), 'system_metric:cpu:host'));

describe('FanoutCompression', () => {
  it('keeps one shared context per filter group, whatever the number of its clients, and drops it with the last', () => {
    const compression = new FanoutCompression(SETTINGS);
    const groupA = new Subject<readonly Delivery[]>();
    const groupB = new Subject<readonly Delivery[]>();
    for (let i = 0; i < 100; i++) compression.join('a', groupA, PEER);
    compression.join('b', groupB, PEER);
    expect(compression.groups).toBe(2);
    for (let i = 0; i < 100; i++) compression.leave('a');
    expect(compression.groups).toBe(1);
    expect(groupA.observed).toBe(false); // its subscription to the group's batches is gone too
    compression.leave('b');
    expect(compression.groups).toBe(0);
  });

  it('compresses each group batch once and gives every in-step client the same bytes', () => {
    const compression = new FanoutCompression(SETTINGS);
    const group = new Subject<readonly Delivery[]>();
    const first = compression.join('', group, PEER)!;
    const batch = batchOf(1, 2);
    group.next(batch); // the first batch of an epoch: both clients are in step
    const second = compression.join('', group, PEER)!;
    expect(first.frames(batch)).toBe(second.frames(batch));
  });

  it('gives a client whose window is smaller than the shared one no compression at all', () => {
    const compression = new FanoutCompression(SETTINGS);
    expect(compression.join('', new Subject(), { noContextTakeover: false, maxWindowBits: 10 })).toBeNull();
    expect(compression.groups).toBe(0);
  });

  it('serves a batch that is not the group`s (held for a client, a snapshot chunk) from an empty context, once per batch', () => {
    const compression = new FanoutCompression(SETTINGS);
    const client = compression.join('', new Subject(), PEER)!;
    const other = compression.join('other', new Subject(), PEER)!;
    const noContext = compression.join('', new Subject(), { ...PEER, noContextTakeover: true })!;
    const held = batchOf(3, 4);
    expect(client.frames(held)).toBe(compression.fresh(held, false));
    expect(other.frames(held)).toBe(client.frames(held)); // the same bytes for any client, whatever its group
    expect(noContext.frames(held)).toBe(compression.fresh(held, true));
    expect(noContext.frames(held)).not.toEqual(client.frames(held));
  });

  it('frees every native context on close', () => {
    const compression = new FanoutCompression(SETTINGS);
    const group = new Subject<readonly Delivery[]>();
    compression.join('a', group, PEER);
    compression.close();
    expect(compression.groups).toBe(0);
    expect(group.observed).toBe(false);
  });
});
