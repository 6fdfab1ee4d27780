import type { ErrorObject } from 'ajv';
import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { envelopeValidator } from '../../../../src/shared/envelope-validator.js';
import { validateMessage } from '../../../../src/server/operators/validate-message.js';
import { container, metric } from '../../../helpers/fixtures.js';
import { createTestScheduler } from '../../../helpers/marbles.js';

describe('validateMessage', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = createTestScheduler();
  });

  it('passes valid envelopes and drops invalid ones, reporting the failing field', () => {
    const good = metric('cpu', 1, 'host', '2026-01-17T04:30:00Z');
    const ok2 = container('db', 'running');
    const bad = { type: 'system_metric', data: { ...good.data, value: 'high' } };
    const reports: string[][] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold<unknown>('abcd|', { a: good, b: bad, c: { type: 'unknown', data: {} }, d: ok2 });
      const onInvalid = (errors: readonly ErrorObject[]): void => void reports.push(errors.map((e) => e.instancePath));
      expectObservable(source.pipe(validateMessage(envelopeValidator(), onInvalid))).toBe('a--d|', { a: good, d: ok2 });
    });
    expect(reports[0]).toEqual(['/data/value']);
    expect(reports).toHaveLength(2);
  });

  it('never errors on hostile values', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const values = { a: null, b: 42, c: JSON.parse('{"type":"system_metric","__proto__":{}}'), d: [[[]]] };
      const source = cold<unknown>('abcd|', values);
      expectObservable(source.pipe(validateMessage(envelopeValidator(), () => {}))).toBe('----|');
    });
  });
});
