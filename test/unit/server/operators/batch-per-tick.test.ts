import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, it } from 'vitest';
import { batchPerTick } from '../../../../src/server/operators/batch-per-tick.js';
import { createTestScheduler } from '../../../helpers/marbles.js';

describe('batchPerTick', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = createTestScheduler();
  });

  it('groups values emitted in the same frame into one array', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('(abc)-d', { a: 1, b: 2, c: 3, d: 4 });
      // "(abc)" spans frames 0–4, so d arrives at frame 6.
      expectObservable(source.pipe(batchPerTick())).toBe('x-----y', { x: [1, 2, 3], y: [4] });
    });
  });

  it('with a delay, collects for that long after the first value, on one timer', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('a-b---c-----d', { a: 1, b: 2, c: 3, d: 4 });
      // a opens a 5-frame window (flush at 5) holding a and b; c at 6 opens the next (flush at 11), d at 12 a third.
      expectObservable(source.pipe(batchPerTick(5))).toBe('-----x-----y-----z', { x: [1, 2], y: [3], z: [4] });
    });
  });

  it('emits pending values before completing', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('(ab|)', { a: 1, b: 2 });
      expectObservable(source.pipe(batchPerTick())).toBe('(x|)', { x: [1, 2] });
    });
  });

  it('unsubscribes from the source and cancels a scheduled flush', () => {
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('a-b-c|', { a: 1, b: 2, c: 3 });
      expectObservable(source.pipe(batchPerTick()), '---!').toBe('x-y', { x: [1], y: [2] });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});
