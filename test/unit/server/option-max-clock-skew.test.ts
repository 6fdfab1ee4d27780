import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../../src/server/options.js';

const base = { redis: 'redis://127.0.0.1:1', auth: false } as const;

describe('resolveOptions > option: maxClockSkewMs', () => {
  it('defaults to 5 minutes', () => {
    expect(resolveOptions(base).maxClockSkewMs).toBe(300_000);
  });

  it('takes whole milliseconds from 0', () => {
    expect(resolveOptions({ ...base, maxClockSkewMs: 0 }).maxClockSkewMs).toBe(0);
    expect(resolveOptions({ ...base, maxClockSkewMs: 60_000 }).maxClockSkewMs).toBe(60_000);
  });

  it.each([-1, 1.5, Number.NaN, '300000', Infinity])('refuses %s, naming the option', (value) => {
    expect(() => resolveOptions({ ...base, maxClockSkewMs: value as never })).toThrow(/maxClockSkewMs/);
  });
});
