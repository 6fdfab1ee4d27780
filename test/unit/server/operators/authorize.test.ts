import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { authorize } from '../../../../src/server/operators/authorize.js';
import { createTestScheduler } from '../../../helpers/marbles.js';

const canSee = (v: string): boolean => !v.startsWith('secret');

describe('authorize', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = createTestScheduler();
  });

  it('passes a fully visible batch on as the same array', () => {
    const batch = ['a', 'b'];
    let received: readonly string[] | undefined;
    scheduler.run(({ cold }) => {
      cold('a|', { a: batch })
        .pipe(authorize(canSee))
        .subscribe((b) => (received = b));
    });
    expect(received).toBe(batch);
  });

  it('filters hidden values and drops batches left empty', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ab|', { a: ['a', 'secret1', 'b'], b: ['secret2'] });
      expectObservable(source.pipe(authorize(canSee))).toBe('a-|', { a: ['a', 'b'] });
    });
  });

  it('unsubscribes from the source when the result is unsubscribed', () => {
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-a-|', { a: ['a'] });
      expectObservable(source.pipe(authorize(canSee)), '--!').toBe('-a', { a: ['a'] });
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });
});
