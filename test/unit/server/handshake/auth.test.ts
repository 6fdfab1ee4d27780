import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createAdmission, type Admission } from '../../../../src/server/handshake/admission.js';
import { createAuthenticator } from '../../../../src/server/handshake/auth.js';
import { parseStreamRequest } from '../../../../src/server/handshake/request.js';
import { resolveOptions, type SystemStreamOptions } from '../../../../src/server/options.js';

function req(url: string, headers: Record<string, string> = {}): IncomingMessage {
  return { url, headers } as unknown as IncomingMessage;
}
const key = (url: string, headers?: Record<string, string>): { key: string | null | undefined; ambiguous: boolean } =>
  parseStreamRequest(req(url, headers)).credential;
/** What a request is let in with, as `{ ok: true, ...filter }`, or its refusal: parse, authenticate, narrow. */
function admitter(options: SystemStreamOptions): (r: IncomingMessage) => object | Promise<object> {
  const admit = createAdmission(createAuthenticator(resolveOptions(options)));
  const flat = (a: Admission): object => (a.ok ? { ok: true, ...a.filter } : a);
  return (r) => {
    const admission = admit(parseStreamRequest(r));
    return admission instanceof Promise ? admission.then(flat) : flat(admission);
  };
}
const keyProtocol = (k: string): string => `system-stream.key.${Buffer.from(k).toString('base64url')}`;

describe('parseStreamRequest: the credential', () => {
  it('reads the api_key parameter, the x-api-key header, Authorization: Bearer and the key subprotocol', () => {
    expect(key('/ws?api_key=a')).toEqual({ key: 'a', ambiguous: false });
    expect(key('/ws', { 'x-api-key': 'b' })).toEqual({ key: 'b', ambiguous: false });
    expect(key('/ws', { authorization: 'Bearer c' })).toEqual({ key: 'c', ambiguous: false });
    expect(key('/ws', { 'sec-websocket-protocol': `system-stream.v1, ${keyProtocol('d é')}` })).toEqual({ key: 'd é', ambiguous: false });
    expect(key('/ws')).toEqual({ key: undefined, ambiguous: false });
  });

  it('flags ambiguity: a repeated parameter or subprotocol, different keys in different places', () => {
    expect(key('/ws?api_key=a&api_key=a').ambiguous).toBe(true);
    expect(key('/ws?api_key=a', { 'x-api-key': 'b' }).ambiguous).toBe(true);
    expect(key('/ws', { 'sec-websocket-protocol': `system-stream.v1, ${keyProtocol('a')}, ${keyProtocol('a')}` }).ambiguous).toBe(true);
    expect(key('/ws?api_key=a', { 'x-api-key': 'a', 'sec-websocket-protocol': keyProtocol('a') })).toEqual({ key: 'a', ambiguous: false });
  });

  it('leaves an Authorization header of another scheme to the hook, and marks a key subprotocol that is not base64url', () => {
    expect(key('/ws', { authorization: 'Basic YTpi' })).toEqual({ key: undefined, ambiguous: false });
    expect(key('/ws', { 'sec-websocket-protocol': 'system-stream.key.YQ==' }).key).toBeNull();
    expect(key('/ws', { 'sec-websocket-protocol': 'system-stream.key.a+b' }).key).toBeNull();
  });
});

describe('admission (createAuthenticator + createAdmission)', () => {
  const auth = admitter({ apiKeys: ['right-key', 'other-key'] });

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

  it('refuses an empty or commas-only types with 400', () => {
    expect(auth(req('/ws?api_key=right-key&types='))).toMatchObject({ ok: false, status: 400 });
    expect(auth(req('/ws?api_key=right-key&types=,,'))).toMatchObject({ ok: false, status: 400 });
  });

  it('accepts the key in the subprotocol, and refuses an ambiguous one without a hook', () => {
    expect(auth(req('/ws', { 'sec-websocket-protocol': `system-stream.v1,${keyProtocol('right-key')}` }))).toEqual({
      ok: true,
      types: null,
    });
    expect(auth(req('/ws?api_key=right-key&api_key=right-key'))).toMatchObject({ ok: false, status: 401 });
  });
});

describe('admission with an authenticate hook', () => {
  const withHook = (authenticate: (r: IncomingMessage) => unknown, extra: object = {}) =>
    admitter({ apiKeys: ['right-key'], authenticate: authenticate as never, ...extra });
  const thenable = (value: unknown) => ({ then: (resolve: (v: unknown) => void) => resolve(value) });

  it.each([
    ['false', false],
    ['undefined', undefined],
    ['null', null],
    ['[]', []],
    ['{}', {}],
    ['{ ok: false }', { ok: false }],
    ['a number', 1],
    ['a string', 'yes'],
    ['{ types: "alert" }', { types: 'alert' }],
  ])('refuses %s with 401, returned or through a thenable (fail closed)', async (_name, verdict) => {
    expect(await withHook(() => verdict)(req('/ws'))).toMatchObject({ ok: false, status: 401 });
    expect(await withHook(() => thenable(verdict))(req('/ws'))).toMatchObject({ ok: false, status: 401 });
    expect(await withHook(async () => verdict)(req('/ws'))).toMatchObject({ ok: false, status: 401 });
  });

  it('grants true and { types: [...] }, also from a non-native thenable', async () => {
    expect(await withHook(() => thenable(true))(req('/ws'))).toEqual({ ok: true, types: null });
    expect(await withHook(() => thenable({ types: ['alert'] }))(req('/ws'))).toEqual({ ok: true, types: new Set(['alert']) });
  });

  it('answers 500 when the hook throws, rejects, or its then() throws', async () => {
    expect(
      await withHook(() => {
        throw new Error('x');
      })(req('/ws')),
    ).toMatchObject({ ok: false, status: 500 });
    expect(await withHook(() => Promise.reject(new Error('x')))(req('/ws'))).toMatchObject({ ok: false, status: 500 });
    expect(
      await withHook(() => ({
        then: () => {
          throw new Error('x');
        },
      }))(req('/ws')),
    ).toMatchObject({ ok: false, status: 500 });
  });

  it('passes requests without a valid unambiguous key to the hook: Basic credentials, an ambiguous or a wrong key', async () => {
    const seen: string[] = [];
    const auth = withHook((r) => (seen.push(r.url ?? ''), r.headers.authorization === 'Basic YTpi'));
    expect(await auth(req('/basic', { authorization: 'Basic YTpi' }))).toEqual({ ok: true, types: null });
    expect(await auth(req('/ambiguous?api_key=right-key&api_key=right-key'))).toMatchObject({ ok: false, status: 401 });
    expect(await auth(req('/wrong?api_key=nope'))).toMatchObject({ ok: false, status: 401 });
    expect(await auth(req('/valid?api_key=right-key'))).toEqual({ ok: true, types: null });
    expect(seen).toEqual(['/basic', '/ambiguous?api_key=right-key&api_key=right-key', '/wrong?api_key=nope']);
  });

  it('answers 503 when the hook does not settle within authenticateTimeoutMs, and past maxPendingAuthentications at once', async () => {
    const never = (): Promise<never> => new Promise(() => {});
    const auth = withHook(never, { authenticateTimeoutMs: 50, maxPendingAuthentications: 2 });
    const first = auth(req('/1'));
    const second = auth(req('/2'));
    expect(auth(req('/3'))).toMatchObject({ ok: false, status: 503 });
    expect(await first).toMatchObject({ ok: false, status: 503 });
    expect(await second).toMatchObject({ ok: false, status: 503 });
    expect(await auth(req('/4'))).toMatchObject({ ok: false, status: 503 }); // room again: waits, then times out
  });
});

describe('admission: source and metric_type filters', () => {
  const auth = admitter({ apiKeys: ['right-key'] });
  const withHook = (verdict: unknown) => admitter({ authenticate: (() => verdict) as never });

  it('narrows to the requested sources and metric types, ANDed with types', () => {
    expect(auth(req('/ws?api_key=right-key&source=web-1,web-2&metric_type=cpu&types=system_metric'))).toEqual({
      ok: true,
      types: new Set(['system_metric']),
      sources: [new Set(['web-1', 'web-2'])],
      metricTypes: new Set(['cpu']),
    });
    expect(auth(req('/ws?api_key=right-key&source=web-1'))).toEqual({ ok: true, types: null, sources: [new Set(['web-1'])] });
  });

  it('refuses an empty list, or a metric type no envelope can have, with 400', () => {
    for (const query of ['source=', 'source=,', 'metric_type=', 'metric_type=a:b']) {
      expect(auth(req(`/ws?api_key=right-key&${query}`))).toMatchObject({ ok: false, status: 400 });
    }
  });

  it('lets authenticate() narrow sources: the request can narrow them further, never widen them', async () => {
    const hook = withHook({ types: ['system_metric', 'alert'], sources: ['web-1', 'web-2'] });
    expect(await hook(req('/ws'))).toEqual({
      ok: true,
      types: new Set(['system_metric', 'alert']),
      sources: [new Set(['web-1', 'web-2'])],
    });
    // Asking for web-3 as well adds a list that must match too: web-3 is never let through (see canSee).
    expect(await hook(req('/ws?source=web-2,web-3'))).toEqual({
      ok: true,
      types: new Set(['system_metric', 'alert']),
      sources: [new Set(['web-1', 'web-2']), new Set(['web-2', 'web-3'])],
    });
  });

  it('refuses (401) a grant whose sources is not an array of strings', async () => {
    for (const sources of ['web-1', [1], null, {}]) {
      expect(await withHook({ types: ['alert'], sources })(req('/ws'))).toMatchObject({ ok: false, status: 401 });
    }
  });
});
