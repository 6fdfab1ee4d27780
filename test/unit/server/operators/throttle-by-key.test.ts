import fc from 'fast-check';
import { Subject, VirtualTimeScheduler } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { throttleByKey } from '../../../../src/server/operators/throttle-by-key.js';
import { createTestScheduler } from '../../../helpers/marbles.js';

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

  describe('urgent values (isUrgent)', () => {
    // "!" values are urgent: a container's status change.
    const isUrgent = (v: string): boolean => v.endsWith('!');

    it('emits an urgent value at once inside its window and drops the older pending value instead of sending it after', () => {
      scheduler.run(({ hot, expectObservable }) => {
        const conflated: string[] = [];
        //                  running, running (pending), exited (urgent) → exited at once, running dropped
        const source = hot('abc------', { a: 'a1', b: 'a2', c: 'a3!' });
        expectObservable(source.pipe(throttleByKey(keyOf, 4, (v) => conflated.push(v), isUrgent))).toBe('a-c------', { a: 'a1', c: 'a3!' });
        scheduler.flush();
        expect(conflated).toEqual(['a2']);
      });
    });

    it('opens a new window after an urgent value, throttling the re-announcements that follow', () => {
      scheduler.run(({ hot, expectObservable }) => {
        const source = hot('a-b-cd------', { a: 'a1', b: 'a2!', c: 'a3', d: 'a4' });
        // a1 at 0; a2! at 2 (new window to 6); a3, a4 inside it: a4 trails at 6.
        expectObservable(source.pipe(throttleByKey(keyOf, 4, () => {}, isUrgent))).toBe('a-b---d-----', { a: 'a1', b: 'a2!', d: 'a4' });
      });
    });
  });

  it('keeps each key in arrival order, always emits its last value and every urgent one (property, against a reference model)', () => {
    // Events: (key, urgent?, gap in ms). The reference model: per key, what is emitted is a subsequence
    // of what arrived, in order, containing the last arrival and every urgent arrival.
    const event = fc.record({ key: fc.constantFrom('a', 'b', 'c'), urgent: fc.boolean(), gapMs: fc.integer({ min: 0, max: 30 }) });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), fc.integer({ min: 1, max: 50 }), (events, windowMs) => {
        const virtual = new VirtualTimeScheduler();
        const source = new Subject<{ key: string; i: number; urgent: boolean }>();
        const out: { key: string; i: number; urgent: boolean }[] = [];
        source
          .pipe(
            throttleByKey(
              (v) => v.key,
              windowMs,
              () => {},
              (v) => v.urgent,
              virtual,
            ),
          )
          .subscribe((v) => out.push(v));
        let at = 0;
        events.forEach((e, i) => {
          at += e.gapMs;
          virtual.schedule(() => source.next({ key: e.key, i, urgent: e.urgent }), at);
        });
        virtual.schedule(() => source.complete(), at + 1000);
        virtual.flush();
        for (const key of ['a', 'b', 'c']) {
          const arrived = events.map((e, i) => ({ ...e, i })).filter((e) => e.key === key);
          const emitted = out.filter((v) => v.key === key).map((v) => v.i);
          expect(emitted).toEqual([...emitted].sort((x, y) => x - y));
          if (arrived.length > 0) expect(emitted.at(-1)).toBe(arrived.at(-1)!.i);
          for (const e of arrived) if (e.urgent) expect(emitted).toContain(e.i);
        }
      }),
      { numRuns: 300 },
    );
  });
});
