import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientFilter } from '../fanout/client-filter.js';
import type { ResolvedOptions } from '../options.js';
import { isEnvelopeType, type EnvelopeType } from '../../protocol/wire.js';
import type { Refusal } from './outcomes.js';
import { MAX_API_KEY_BYTES, type StreamRequest } from './request.js';

/** What authentication decides for one request: a grant (what the client may see) or a refusal. */
export type AuthResult = { readonly ok: true; readonly grant: ClientFilter } | Refusal;

/** The options authentication reads. */
export type AuthOptions = Pick<
  ResolvedOptions,
  'apiKeys' | 'authenticate' | 'authRequired' | 'authenticateTimeoutMs' | 'maxPendingAuthentications'
>;

const ALL: AuthResult = Object.freeze({ ok: true, grant: Object.freeze({ types: null }) });
const UNAUTHORIZED: Refusal = Object.freeze({ ok: false, status: 401, outcome: 'unauthorized' });
const BUSY: Refusal = Object.freeze({ ok: false, status: 503, outcome: 'busy' });
const TIMED_OUT: Refusal = Object.freeze({ ok: false, status: 503, outcome: 'timeout' });
const failed = (error: unknown): Refusal => ({ ok: false, status: 500, outcome: 'error', error });

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Builds the authenticator once per stream, for the WebSocket handshake and the router's requests alike.
 * API keys are compared as SHA-256 digests with `timingSafeEqual`, against every configured key without
 * stopping early, so timing reveals neither which key matched nor how much of it. Only a key that is
 * present, unambiguous and valid grants at once; every other request goes to the `authenticate` hook if
 * there is one (it may accept a cookie or Basic credentials), else is refused 401. What the hook returns
 * is awaited if it is thenable and grants only if it is `true` or an object whose `types` is an array; a
 * hook that does not settle within `authenticateTimeoutMs` is answered 503, and so is every request past
 * `maxPendingAuthentications` waiting on it; a hook that throws or rejects, 500.
 */
export function createAuthenticator(options: AuthOptions): (request: StreamRequest) => AuthResult | Promise<AuthResult> {
  const digests = options.apiKeys.map(sha256);
  const matchesKey = (key: string): boolean => {
    if (Buffer.byteLength(key) > MAX_API_KEY_BYTES) return false;
    const digest = sha256(key);
    let match = false;
    for (const expected of digests) match = timingSafeEqual(digest, expected) || match;
    return match;
  };
  let pending = 0;

  const runHook = (request: StreamRequest, hook: NonNullable<AuthOptions['authenticate']>): AuthResult | Promise<AuthResult> => {
    let verdict: unknown;
    try {
      verdict = hook(request.raw);
    } catch (error) {
      return failed(error);
    }
    if (!isThenable(verdict)) return grant(verdict);
    if (pending >= options.maxPendingAuthentications) return BUSY;
    pending++;
    return new Promise<AuthResult>((resolve) => {
      let settled = false;
      const settle = (result: AuthResult): void => {
        if (settled) return;
        settled = true;
        pending--;
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => settle(TIMED_OUT), options.authenticateTimeoutMs);
      timer.unref();
      try {
        verdict.then(
          (v) => settle(grant(v)),
          (error: unknown) => settle(failed(error)),
        );
      } catch (error) {
        settle(failed(error)); // a thenable whose then() throws
      }
    });
  };

  return (request) => {
    if (!options.authRequired) return ALL;
    const { key, ambiguous } = request.credential;
    if (typeof key === 'string' && !ambiguous && digests.length > 0 && matchesKey(key)) return ALL;
    if (options.authenticate === undefined) return UNAUTHORIZED;
    return runHook(request, options.authenticate);
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

/**
 * Fail closed: only `true` or `{ types: [...] }` (with, optionally, `sources: [...]`) is a grant; anything
 * else is a refusal, `sources` that is not an array of strings included.
 */
function grant(verdict: unknown): AuthResult {
  if (verdict === true) return ALL;
  if (typeof verdict !== 'object' || verdict === null || Array.isArray(verdict)) return UNAUTHORIZED;
  const { types, sources } = verdict as { types?: unknown; sources?: unknown };
  if (!Array.isArray(types)) return UNAUTHORIZED;
  if (sources !== undefined && (!Array.isArray(sources) || !sources.every((s) => typeof s === 'string'))) return UNAUTHORIZED;
  const allowed = new Set(types.filter((t): t is EnvelopeType => typeof t === 'string' && isEnvelopeType(t)));
  return { ok: true, grant: sources === undefined ? { types: allowed } : { types: allowed, sources: [new Set(sources as string[])] } };
}
