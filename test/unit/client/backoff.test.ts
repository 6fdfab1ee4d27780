import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../src/client/backoff.js';

const SCHEDULE = [2000, 5000, 10000, 30000];

describe('backoffDelay', () => {
  describe('with jitter 0', () => {
    it('waits exactly 2, 5, 10, 30, 30, 30 s for attempts 1 to 6', () => {
      const waits = [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, SCHEDULE, 0));
      expect(waits).toEqual([2000, 5000, 10000, 30000, 30000, 30000]);
    });

    it('does not call random()', () => {
      const random = (): number => {
        throw new Error('random() called with jitter 0');
      };
      expect(backoffDelay(2, SCHEDULE, 0, random)).toBe(5000);
    });

    it('counts an attempt below 1, or NaN, as attempt 1', () => {
      expect(backoffDelay(0, SCHEDULE, 0)).toBe(2000);
      expect(backoffDelay(-3, SCHEDULE, 0)).toBe(2000);
      expect(backoffDelay(Number.NaN, SCHEDULE, 0)).toBe(2000);
    });

    it('repeats a single wait', () => {
      expect([1, 2, 9].map((attempt) => backoffDelay(attempt, [750], 0))).toEqual([750, 750, 750]);
    });
  });

  describe('with jitter', () => {
    it('spans -jitter at random() = 0 and +jitter as random() approaches 1', () => {
      expect(backoffDelay(1, SCHEDULE, 0.1, () => 0)).toBe(1800);
      expect(backoffDelay(1, SCHEDULE, 0.1, () => 0.5)).toBe(2000);
      expect(backoffDelay(1, SCHEDULE, 0.1, () => 0.999999)).toBe(2200);
      expect(backoffDelay(4, SCHEDULE, 0.25, () => 0)).toBe(22500);
    });

    it('defaults to ±10 % around the scheduled wait', () => {
      expect(backoffDelay(3, SCHEDULE, undefined, () => 0)).toBe(9000);
      expect(backoffDelay(3, SCHEDULE, undefined, () => 0.999999)).toBe(11000);
    });

    it('stays within ±jitter of the scheduled wait for any attempt, jitter and random value', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 50 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          (attempt, jitter, r) => {
            const base = SCHEDULE[Math.min(attempt, SCHEDULE.length) - 1]!;
            const wait = backoffDelay(attempt, SCHEDULE, jitter, () => r);
            expect(Number.isInteger(wait)).toBe(true);
            expect(wait).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)));
            expect(wait).toBeLessThanOrEqual(Math.ceil(base * (1 + jitter)));
          },
        ),
      );
    });
  });

  it('throws RangeError for an empty schedule', () => {
    expect(() => backoffDelay(1, [], 0)).toThrow(RangeError);
  });
});
