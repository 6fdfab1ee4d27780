import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { SystemStreamError } from '../../../src/shared/errors.js';
import { containerName, resolveSource, seriesSource } from '../../../src/sentinel/source.js';

describe('resolveSource', () => {
  it("defaults to this machine's hostname", () => {
    expect(resolveSource(undefined)).toBe(hostname());
  });

  it.each(['web-1', 'db.eu-west.internal', 'käse-01', 'x'.repeat(128)])('accepts %s', (source) => {
    expect(resolveSource(source)).toBe(source);
  });

  it.each([
    ['an empty string', ''],
    ['a ":" (it separates the host from a mount or interface)', 'web:1'],
    ['a "/" (it separates the host from a container)', 'eu/web-1'],
    ['whitespace', 'web 1'],
    ['a control character', 'web\u00001'],
    ['129 characters', 'x'.repeat(129)],
    ['a number', 42],
  ])('throws SST_ERR_INVALID_OPTION for %s', (_what, source) => {
    let thrown: unknown;
    try {
      resolveSource(source);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SystemStreamError);
    expect((thrown as SystemStreamError).code).toBe('SST_ERR_INVALID_OPTION');
    expect((thrown as Error).message).toMatch(/^Expected `source` to be 1 to 128 characters/);
  });
});

describe('the key rule', () => {
  it('host-wide series are the host, mounts and interfaces `<host>:<part>`, containers `<host>/<name>`', () => {
    expect(seriesSource('web-1')).toBe('web-1');
    expect(seriesSource('web-1', '/var')).toBe('web-1:/var');
    expect(seriesSource('web-1', 'eth0')).toBe('web-1:eth0');
    expect(containerName('web-1', 'api')).toBe('web-1/api');
  });
});
