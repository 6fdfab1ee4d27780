import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../../src/client/client-options.js';
import type { StreamManagerOptions } from '../../../src/client/types.js';
import { SystemStreamError } from '../../../src/shared/errors.js';
import { resolveOptions as resolveServerOptions } from '../../../src/server/options.js';
import { FakeSocket } from '../../helpers/fake-browser.js';

// StreamManager checks its options with the server's option kit: the same error class and code, the same
// "did you mean" for a misspelt name, the same bounds for durations.
const URL = 'ws://127.0.0.1:1/api/system/ws';
const resolve = (options: Record<string, unknown>): ReturnType<typeof resolveOptions> =>
  resolveOptions({ url: URL, WebSocket: FakeSocket, ...options } as StreamManagerOptions);
const errorOf = (fn: () => unknown): SystemStreamError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof SystemStreamError) return err;
    throw new Error(`expected a SystemStreamError, got ${String(err)}`);
  }
  throw new Error('expected a throw');
};

describe('StreamManager options', () => {
  it('refuses an unknown name with the closest known one, instead of ignoring it', () => {
    const err = errorOf(() => resolve({ apikey: 'k' }));
    expect(err.code).toBe('SST_ERR_INVALID_OPTION');
    expect(err.message).toBe('Unknown option `apikey` of StreamManager; did you mean `apiKey`?');
    expect(errorOf(() => resolve({ idleTimeout: 5 })).message).toMatch(/did you mean `idleTimeoutMs`\?/);
    expect(errorOf(() => resolve({ zzz: 1 })).message).toMatch(/^Unknown option `zzz` of StreamManager; it takes `url`, `apiKey`/);
  });

  it('never repeats the key in a message', () => {
    expect(errorOf(() => resolve({ apiKey: '' })).message).toBe('Expected `apiKey` to be a non-empty string, got ""');
    expect(errorOf(() => resolve({ apiKey: 42 })).message).toBe('Expected `apiKey` to be a non-empty string, got 42');
  });

  it.each([
    ['idleTimeoutMs', 2_147_483_648],
    ['connectTimeoutMs', Number.POSITIVE_INFINITY],
    ['hiddenTimeoutMs', Number.NaN],
    ['resumeJitterMs', 1.5],
    ['stableAfterMs', -1],
  ])('refuses %s = %s with the message the server gives for the same duration', (name, value) => {
    const client = errorOf(() => resolve({ [name]: value }));
    const server = errorOf(() => resolveServerOptions({ auth: false, readyTimeoutMs: value }));
    expect(client.code).toBe('SST_ERR_INVALID_OPTION');
    expect(client.message).toBe(server.message.replace('`readyTimeoutMs`', `\`${name}\``));
  });

  it('takes the default for an option set to undefined, as the server does', () => {
    const resolved = resolve({ idleTimeoutMs: undefined, backoffMs: undefined, resume: undefined });
    expect(resolved.idleTimeoutMs).toBe(75_000);
    expect(resolved.backoffMs).toEqual([2000, 5000, 10000, 30000]);
    expect(resolved.resume).toBe(true);
  });

  it('accepts the longest wait the timers take, and names a bad backoff entry by its index', () => {
    expect(resolve({ idleTimeoutMs: 2_147_483_647 }).idleTimeoutMs).toBe(2_147_483_647);
    expect(errorOf(() => resolve({ backoffMs: [1000, 2.5] })).message).toBe(
      'Expected `backoffMs` to be a non-empty array of integers from 0 to 2147483647 (milliseconds), got 2.5 at index 1',
    );
  });

  it('refuses wrong kinds for the booleans, functions and the auth-check URL', () => {
    expect(errorOf(() => resolve({ resume: 'yes' })).message).toMatch(/`resume`/);
    expect(errorOf(() => resolve({ random: 0.5 })).message).toMatch(/`random` to be a function/);
    expect(errorOf(() => resolve({ authCheckUrl: true })).message).toMatch(/`authCheckUrl` to be a URL or false/);
  });
});
