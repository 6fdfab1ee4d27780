import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createAuthenticator, presentedApiKey } from '../../src/auth.js';
import { resolveOptions } from '../../src/options.js';

function req(url: string, headers: Record<string, string> = {}): IncomingMessage {
  return { url, headers } as unknown as IncomingMessage;
}
const key = (url: string, headers?: Record<string, string>): string | null | undefined =>
  presentedApiKey(req(url, headers), new URLSearchParams(url.split('?')[1] ?? ''));

describe('presentedApiKey', () => {
  it('reads the api_key parameter, the x-api-key header and Authorization: Bearer', () => {
    expect(key('/ws?api_key=a')).toBe('a');
    expect(key('/ws', { 'x-api-key': 'b' })).toBe('b');
    expect(key('/ws', { authorization: 'Bearer c' })).toBe('c');
    expect(key('/ws')).toBeUndefined();
  });

  it('refuses ambiguity: a repeated parameter, different keys in different places, a malformed Authorization', () => {
    expect(key('/ws?api_key=a&api_key=a')).toBeNull();
    expect(key('/ws?api_key=a', { 'x-api-key': 'b' })).toBeNull();
    expect(key('/ws', { authorization: 'Basic YTpi' })).toBeNull();
    expect(key('/ws?api_key=a', { 'x-api-key': 'a' })).toBe('a');
  });
});

describe('createAuthenticator', () => {
  const auth = createAuthenticator(resolveOptions({ apiKeys: ['right-key', 'other-key'] }));

  it('accepts any configured key and refuses others with 401', () => {
    expect(auth(req('/ws?api_key=right-key'))).toEqual({ ok: true, types: null });
    expect(auth(req('/ws?api_key=other-key'))).toEqual({ ok: true, types: null });
    expect(auth(req('/ws?api_key=right-ke'))).toMatchObject({ ok: false, status: 401 });
    expect(auth(req('/ws?api_key=right-key%00'))).toMatchObject({ ok: false, status: 401 });
    expect(auth(req(`/ws?api_key=${'a'.repeat(100_000)}`))).toMatchObject({ ok: false, status: 401 });
    expect(auth(req('/ws?apikey=right-key'))).toMatchObject({ ok: false, status: 401 });
    expect(auth(req('/ws/right-key'))).toMatchObject({ ok: false, status: 401 });
  });

  it('narrows to the requested types and refuses unknown ones with 400', () => {
    expect(auth(req('/ws?api_key=right-key&types=alert,system_metric'))).toEqual({ ok: true, types: new Set(['alert', 'system_metric']) });
    expect(auth(req('/ws?api_key=right-key&types=bogus'))).toMatchObject({ ok: false, status: 400 });
  });
});
