import { of } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseJson, type ParseFailure } from '../../../../src/server/operators/parse-json.js';
import { createTestScheduler } from '../../../helpers/marbles.js';

describe('parseJson', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = createTestScheduler();
  });

  it('parses strings and Buffers', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold<Buffer | string>('ab|', { a: '{"x":1}', b: Buffer.from('[1,2]') });
      expectObservable(source.pipe(parseJson(100, () => {}))).toBe('ab|', { a: { x: 1 }, b: [1, 2] });
    });
  });

  it('drops unparsable and oversized messages and reports each', () => {
    const drops: [ParseFailure, number][] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold<Buffer | string>('abcd|', { a: '{"x":', b: 'x'.repeat(11), c: '"ok"', d: Buffer.from([0xff, 0xfe]) });
      expectObservable(source.pipe(parseJson(10, (reason, bytes) => drops.push([reason, bytes])))).toBe('--c-|', { c: 'ok' });
    });
    expect(drops).toEqual([
      ['not_json', 5],
      ['too_large', 11],
      ['not_json', 2],
    ]);
  });

  it('parses deep nesting without overflowing the stack (V8 parses JSON iteratively; validation rejects it later)', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    const emitted: unknown[] = [];
    of(deep)
      .pipe(parseJson(1_000_000, () => {}))
      .subscribe((v) => emitted.push(v));
    expect(emitted).toHaveLength(1);
    expect(Array.isArray(emitted[0])).toBe(true);
  });

  it('keeps __proto__ as a plain own property, never as a prototype', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold<string>('a|', { a: '{"__proto__":{"polluted":true}}' });
      expectObservable(source.pipe(parseJson(100, () => {}))).toBe('a|', { a: JSON.parse('{"__proto__":{"polluted":true}}') });
    });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('forwards errors and unsubscribes from the source', () => {
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot<string>('-a-#', { a: '1' });
      expectObservable(source.pipe(parseJson(10, () => {}))).toBe('-a-#', { a: 1 });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});
