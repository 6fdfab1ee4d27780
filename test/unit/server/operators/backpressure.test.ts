import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { backpressure, type BackpressureOptions } from '../../../../src/server/operators/backpressure.js';
import { createTestScheduler } from '../../../helpers/marbles.js';

// Values are "<key><n>": metrics "a1", "b1" conflate by their letter; "!"-values never conflate.
const conflationKey = (v: string): string | null => (v.startsWith('!') ? null : v[0]!);

describe('backpressure', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = createTestScheduler();
  });

  function options(
    blocked: () => boolean,
    drain$: BackpressureOptions<string>['drain$'],
    extra: Partial<BackpressureOptions<string>> = {},
  ): BackpressureOptions<string> {
    return { isBlocked: blocked, drain$, conflationKey, maxHeld: 100, ...extra };
  }

  it('passes batches through unchanged while the consumer keeps up', () => {
    scheduler.run(({ hot, cold, expectObservable }) => {
      const source = hot('ab', { a: ['a1'], b: ['b1', 'c1'] });
      expectObservable(source.pipe(backpressure(options(() => false, cold('-'))))).toBe('ab', { a: ['a1'], b: ['b1', 'c1'] });
    });
  });

  it('while blocked keeps only the latest value per key and releases them as one batch when unblocked', () => {
    scheduler.run(({ hot, cold, expectObservable, flush }) => {
      let blocked = true;
      const source = hot('abc-------', { a: ['a1', 'b1'], b: ['a2'], c: ['!x', 'a3'] });
      const drain$ = cold('--t--t--t--t');
      scheduler.schedule(() => (blocked = false), 4);
      // held: b1, !x, a3 (a re-inserted at the end on each update); released at the first tick after frame 4.
      expectObservable(source.pipe(backpressure(options(() => blocked, drain$)))).toBe('-----r', { r: ['b1', '!x', 'a3'] });
      flush();
    });
  });

  it('never conflates null-keyed values', () => {
    const conflated: string[] = [];
    scheduler.run(({ hot, cold, expectObservable }) => {
      let blocked = true;
      scheduler.schedule(() => (blocked = false), 2);
      const source = hot('ab', { a: ['!1', 'a1'], b: ['!2', 'a2'] });
      expectObservable(source.pipe(backpressure(options(() => blocked, cold('---t'), { onConflated: (v) => conflated.push(v) })))).toBe(
        '---r',
        { r: ['!1', '!2', 'a2'] },
      );
    });
    expect(conflated).toEqual(['a1']);
  });

  it('sends at once, in order, when a batch arrives after the consumer caught up but before a tick', () => {
    scheduler.run(({ hot, cold, expectObservable }) => {
      let blocked = true;
      scheduler.schedule(() => (blocked = false), 1);
      const source = hot('a-b', { a: ['a1'], b: ['b1'] });
      expectObservable(source.pipe(backpressure(options(() => blocked, cold('-----t'))))).toBe('--r', { r: ['a1', 'b1'] });
    });
  });

  it('drops the oldest replaceable value past maxHeld', () => {
    const conflated: string[] = [];
    scheduler.run(({ hot, cold, expectObservable }) => {
      let blocked = true;
      scheduler.schedule(() => (blocked = false), 1);
      const source = hot('a', { a: ['a1', '!x', 'b1', 'c1'] });
      expectObservable(
        source.pipe(backpressure(options(() => blocked, cold('--t'), { maxHeld: 3, onConflated: (v) => conflated.push(v) }))),
      ).toBe('--r', { r: ['!x', 'b1', 'c1'] });
    });
    expect(conflated).toEqual(['a1']);
  });

  it('reports an overflow of values that can never be dropped', () => {
    let overflows = 0;
    scheduler.run(({ hot, cold, expectObservable }) => {
      const source = hot('a', { a: ['!1', '!2', '!3'] });
      expectObservable(source.pipe(backpressure(options(() => true, cold('-t'), { maxHeld: 2, onOverflow: () => overflows++ })))).toBe('-');
    });
    expect(overflows).toBe(1);
  });

  it('subscribes to drain$ only while holding values', () => {
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      let blocked = true;
      scheduler.schedule(() => (blocked = false), 3);
      const source = hot('a-------b', { a: ['a1'], b: ['b1'] });
      const drain$ = cold('-t-t-t-t-t');
      expectObservable(source.pipe(backpressure(options(() => blocked, drain$)))).toBe('---r----b', { r: ['a1'], b: ['b1'] });
      expectSubscriptions(drain$.subscriptions).toBe('^--!');
    });
  });

  it('unsubscribes from the source and drain$ when the result is unsubscribed', () => {
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const source = hot('a---', { a: ['a1'] });
      const drain$ = cold('-t-t-t');
      expectObservable(source.pipe(backpressure(options(() => true, drain$))), '--!').toBe('-');
      expectSubscriptions(source.subscriptions).toBe('^-!');
      expectSubscriptions(drain$.subscriptions).toBe('^-!');
    });
  });
});
