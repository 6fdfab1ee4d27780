import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { throttleByKey } from '../../../src/operators/throttle-by-key.js';
import { createTestScheduler } from '../../helpers/marbles.js';

// Values are "<key><n>", e.g. "a1"; the key is the first letter, and "x" values are exempt (key null).
const keyOf = (v: string): string | null => (v.startsWith('x') ? null : v[0]!);

describe('throttleByKey', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = createTestScheduler();
  });

  it('emits the first value of a quiet key at once', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('a-------b', { a: 'a1', b: 'b1' });
      expectObservable(source.pipe(throttleByKey(keyOf, 3))).toBe('a-------b', { a: 'a1', b: 'b1' });
    });
  });

  it('emits only the latest value of a busy key at the end of its window', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('abc------', { a: 'a1', b: 'a2', c: 'a3' });
      expectObservable(source.pipe(throttleByKey(keyOf, 4))).toBe('a---c----', { a: 'a1', c: 'a3' });
    });
  });

  it('throttles each key on its own, so a busy key does not delay another', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('aAbB', { a: 'a1', A: 'a2', b: 'b1', B: 'b2' });
      //                        a1 at 0, b1 at 2 (not delayed by a's window), a2 at 4, b2 at 6
      expectObservable(source.pipe(throttleByKey(keyOf, 4))).toBe('a-b-A-B', { a: 'a1', b: 'b1', A: 'a2', B: 'b2' });
    });
  });

  it('opens a new window after a trailing emission', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('ab---c--', { a: 'a1', b: 'a2', c: 'a3' });
      // a1 at 0; a2 trails at 3 and opens a window until 6; a3 at 5 waits for 6.
      expectObservable(source.pipe(throttleByKey(keyOf, 3))).toBe('a--b--c-', { a: 'a1', b: 'a2', c: 'a3' });
    });
  });

  it('forgets a key whose window ends with nothing pending', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('a---b', { a: 'a1', b: 'a2' });
      expectObservable(source.pipe(throttleByKey(keyOf, 2))).toBe('a---b', { a: 'a1', b: 'a2' });
    });
  });

  it('passes values whose key is null straight through', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('xyz', { x: 'x1', y: 'x2', z: 'x3' });
      expectObservable(source.pipe(throttleByKey(keyOf, 5))).toBe('xyz', { x: 'x1', y: 'x2', z: 'x3' });
    });
  });

  it('reports each replaced value', () => {
    const conflated: string[] = [];
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('abc', { a: 'a1', b: 'a2', c: 'a3' });
      expectObservable(source.pipe(throttleByKey(keyOf, 5, (v) => conflated.push(v)))).toBe('a----c', { a: 'a1', c: 'a3' });
    });
    expect(conflated).toEqual(['a2']);
  });

  it('emits pending values before completing', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('ab|', { a: 'a1', b: 'a2' });
      expectObservable(source.pipe(throttleByKey(keyOf, 5))).toBe('a-(b|)', { a: 'a1', b: 'a2' });
    });
  });

  it('forwards errors and drops pending values', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('ab#', { a: 'a1', b: 'a2' });
      expectObservable(source.pipe(throttleByKey(keyOf, 5))).toBe('a-#', { a: 'a1' });
    });
  });

  it('unsubscribes from the source and cancels its windows when the result is unsubscribed', () => {
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-a-a-a-a-a|', { a: 'a1' });
      const unsub = '     ------!';
      // a at 1 opens a window until 4, where the pending a trails; the a pending at 5 is dropped on unsubscribe.
      expectObservable(source.pipe(throttleByKey(keyOf, 3)), unsub).toBe('-a--a-', { a: 'a1' });
      expectSubscriptions(source.subscriptions).toBe('^-----!');
    });
  });

  it('returns the source unchanged for a 0 ms window', () => {
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('aaa', { a: 'a1' });
      expectObservable(source.pipe(throttleByKey(keyOf, 0))).toBe('aaa', { a: 'a1' });
    });
  });
});
