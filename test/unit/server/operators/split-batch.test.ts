import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { splitBatch } from '../../../../src/server/operators/split-batch.js';
import { createTestScheduler } from '../../../helpers/marbles.js';

describe('splitBatch', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = createTestScheduler();
  });

  it('emits each member of an array in order and passes other values through', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold<unknown>('a----b|', { a: [1, 2, 3], b: { x: 1 } });
      expectObservable(source.pipe(splitBatch(10, () => {}))).toBe('(123)b|', { 1: 1, 2: 2, 3: 3, b: { x: 1 } });
    });
  });

  it('drops empty and oversized arrays whole, reporting their length', () => {
    const dropped: number[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold<unknown>('abc|', { a: [], b: [1, 2, 3], c: [4] });
      expectObservable(source.pipe(splitBatch(2, (n) => dropped.push(n)))).toBe('--c|', { c: 4 });
    });
    expect(dropped).toEqual([0, 3]);
  });

  it('unsubscribes from the source when the result is unsubscribed', () => {
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot<unknown>('-a-a-a|', { a: 1 });
      expectObservable(source.pipe(splitBatch(2, () => {})), '---!').toBe('-a-', { a: 1 });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});
