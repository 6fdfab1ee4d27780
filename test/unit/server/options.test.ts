import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../../src/server/options.js';

describe('resolveOptions', () => {
  it('applies every default', () => {
    const o = resolveOptions({ apiKeys: ['k'] });
    expect(o).toMatchObject({
      path: '/api/system/ws',
      channel: 'system:metrics',
      maxClients: 100,
      throttleMs: 50,
      maxMessagesPerSecond: 1000,
      maxBufferedBytes: 1024 * 1024,
      slowClientTimeoutMs: 10_000,
      heartbeatIntervalMs: 30_000,
      redisHealthCheckMs: 1000,
      maxMessageBytes: 65536,
      maxSnapshotKeys: 10_000,
      staleAfterIntervals: 3,
      staleFloorMs: 5000,
      authRequired: true,
    });
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('keeps a default when an option is explicitly undefined', () => {
    expect(resolveOptions({ apiKeys: ['k'], throttleMs: undefined }).throttleMs).toBe(50);
  });

  it('takes the Redis URL from REDIS_URL when none is given', () => {
    const before = process.env['REDIS_URL'];
    process.env['REDIS_URL'] = 'redis://127.0.0.1:7777';
    try {
      expect(resolveOptions({ auth: false }).redis).toBe('redis://127.0.0.1:7777');
    } finally {
      if (before === undefined) delete process.env['REDIS_URL'];
      else process.env['REDIS_URL'] = before;
    }
  });

  describe('authentication', () => {
    it('throws when no authentication is configured (secure by default)', () => {
      expect(() => resolveOptions({})).toThrow(/No authentication configured: pass `apiKeys`, `jwt` or `authenticate`, or `auth: false`/);
    });
    it('throws when auth: false contradicts apiKeys', () => {
      expect(() => resolveOptions({ auth: false, apiKeys: ['k'] })).toThrow(/contradicts/);
    });
    it('rejects empty keys without echoing any key', () => {
      expect(() => resolveOptions({ apiKeys: ['good-secret', ''] })).toThrow(/`apiKeys` to be an array of non-empty strings/);
      try {
        resolveOptions({ apiKeys: ['s3cr3t'.repeat(200)] });
        expect.unreachable();
      } catch (err) {
        expect(String(err)).not.toMatch(/s3cr3t/);
      }
    });
  });

  it.each([
    ['throttleMs', -5, 'Expected `throttleMs` to be an integer from 0 to 2147483647 (milliseconds), got -5'],
    ['maxClients', 0, 'Expected `maxClients` to be an integer >= 1, got 0'],
    ['maxClients', 1.5, 'Expected `maxClients` to be an integer >= 1, got 1.5'],
    ['maxClients', Infinity, 'Expected `maxClients` to be an integer >= 1, got Infinity'],
    ['heartbeatIntervalMs', Number.NaN, 'Expected `heartbeatIntervalMs` to be an integer from 10 to 2147483647 (milliseconds), got NaN'],
    ['maxBufferedBytes', '1MB', 'Expected `maxBufferedBytes` to be an integer >= 1024, got "1MB"'],
    ['staleAfterIntervals', -1, 'Expected `staleAfterIntervals` to be a finite number from 0 to 1000, got -1'],
    [
      'staleAfterIntervals',
      0.5,
      'Expected `staleAfterIntervals` to be 0 (off) or a number from 1 to 1000, got 0.5: below 1, a source would be stale before its next metric is due',
    ],
    ['staleFloorMs', 50, 'Expected `staleFloorMs` to be an integer from 100 to 2147483647 (milliseconds), got 50'],
  ])('names the option, the expectation and the value: %s = %s', (name, value, message) => {
    expect(() => resolveOptions({ apiKeys: ['k'], [name]: value })).toThrow(message);
  });

  describe('timer options', () => {
    it('rejects heartbeatIntervalMs: Infinity, which Node would turn into a 1 ms interval that terminates every client', () => {
      expect(() => resolveOptions({ apiKeys: ['k'], heartbeatIntervalMs: Infinity })).toThrow(
        "Expected `heartbeatIntervalMs` to be an integer from 10 to 2147483647 (milliseconds), got Infinity; Node's timers cannot wait longer than 2147483647 ms (about 24.8 days)",
      );
    });
    it.each(['heartbeatIntervalMs', 'redisHealthCheckMs', 'throttleMs', 'slowClientTimeoutMs'])(
      'rejects %s above 2147483647 and accepts it at that limit',
      (name) => {
        expect(() => resolveOptions({ apiKeys: ['k'], [name]: 2_147_483_648 })).toThrow(/got 2147483648; Node's timers/);
        expect(resolveOptions({ apiKeys: ['k'], [name]: 2_147_483_647 })[name as 'throttleMs']).toBe(2_147_483_647);
      },
    );
    it('takes throttleMs: 0 as "off", as its documentation says', () => {
      expect(resolveOptions({ apiKeys: ['k'], throttleMs: 0 }).throttleMs).toBe(0);
    });
    it('takes staleAfterIntervals: 0 as "off" and accepts fractions from 1 up, as its documentation says', () => {
      expect(resolveOptions({ apiKeys: ['k'], staleAfterIntervals: 0 }).staleAfterIntervals).toBe(0);
      expect(resolveOptions({ apiKeys: ['k'], staleAfterIntervals: 2.5 }).staleAfterIntervals).toBe(2.5);
    });
  });

  it('refuses an unknown option with the closest known one instead of ignoring it', () => {
    expect(() => resolveOptions({ apiKeys: ['k'], maxClient: 5 } as never)).toThrow(
      'Unknown option `maxClient` of attachSystemStream; did you mean `maxClients`?',
    );
  });

  it('treats every option given as undefined as left out (values read from the environment)', () => {
    const fromEnv = (name: string): string | undefined => process.env[`SST_TEST_UNSET_${name}`];
    const throttle = fromEnv('THROTTLE');
    expect(
      resolveOptions({ apiKeys: ['k'], throttleMs: throttle === undefined ? undefined : Number(throttle), path: fromEnv('PATH') }),
    ).toMatchObject({
      throttleMs: 50,
      path: '/api/system/ws',
    });
  });

  it('rejects a malformed path, channel, redis or logger', () => {
    expect(() => resolveOptions({ auth: false, path: 'ws' })).toThrow(/`path`/);
    expect(() => resolveOptions({ auth: false, channel: '' })).toThrow(/`channel`/);
    expect(() => resolveOptions({ auth: false, redis: 'http://x' })).toThrow(/`redis`/);
    expect(() => resolveOptions({ auth: false, redis: {} as never })).toThrow(/`redis`/);
    expect(() => resolveOptions({ auth: false, logger: { info() {} } as never })).toThrow(/`logger`/);
  });

  describe('options: metrics and metricsAuth', () => {
    it('are off and "same" by default, and off for false', () => {
      expect(resolveOptions({ auth: false })).toMatchObject({ metrics: undefined, metricsAuth: 'same' });
      expect(resolveOptions({ auth: false, metrics: false }).metrics).toBeUndefined();
    });
    it('accept true or a prom-client Registry, kept as it is', () => {
      const registry = new Registry();
      expect(resolveOptions({ auth: false, metrics: true }).metrics).toBe(true);
      expect(resolveOptions({ auth: false, metrics: registry }).metrics).toBe(registry);
      expect(resolveOptions({ auth: false, metrics: true, metricsAuth: 'none' }).metricsAuth).toBe('none');
    });
    it.each([
      ['a string', 'yes'],
      ['a number', 1],
      ['an object that is not a registry', { metrics: () => '' }],
      ['null', null],
    ])('refuse %s for metrics, saying what a registry has', (_what, value) => {
      expect(() => resolveOptions({ auth: false, metrics: value as never })).toThrow(
        /^Expected `metrics` to be true, false or a prom-client Registry \(with metrics\(\), registerMetric\(\), getSingleMetric\(\), removeSingleMetric\(\) and contentType\), got /,
      );
    });
    it('refuse a metricsAuth that is neither same nor none', () => {
      expect(() => resolveOptions({ auth: false, metrics: true, metricsAuth: 'open' as never })).toThrow(
        'Expected `metricsAuth` to be one of same, none, got "open"',
      );
    });
  });

  it('never puts the Redis URL (which may hold a password) in an error', () => {
    expect(() => resolveOptions({ auth: false, redis: 'http://user:hunter2@host' })).toThrow(/^(?!.*hunter2)/s);
  });
});
