import type { ClientFilter } from '../fanout/client-filter.js';
import type { ResolvedOptions } from '../options.js';
import { isEnvelopeType, type EnvelopeType } from '../../protocol/wire.js';
import { ApiKeySet } from './api-keys.js';
import { createJwtVerifier, isJwtShaped, type JwtVerifier, type VerifiedToken } from './jwt.js';
import type { Refusal } from './outcomes.js';
import type { StreamRequest } from './request.js';
import type { SessionCredential } from './session-expiry.js';

/**
 * What authentication decides for one request: a grant (what the client may see, and what its session
 * depends on: the API key it presented, when its credential expires) or a refusal.
 */
export type AuthResult = { readonly ok: true; readonly grant: ClientFilter; readonly session?: SessionCredential } | Refusal;

/** The options authentication reads. */
export type AuthOptions = Pick<
  ResolvedOptions,
  'apiKeys' | 'jwt' | 'logger' | 'authenticate' | 'authRequired' | 'authenticateTimeoutMs' | 'maxPendingAuthentications'
>;

const EVERYTHING: ClientFilter = Object.freeze({ types: null });
const ALL: AuthResult = Object.freeze({ ok: true, grant: EVERYTHING });
const UNAUTHORIZED: Refusal = Object.freeze({ ok: false, status: 401, outcome: 'unauthorized' });
const BUSY: Refusal = Object.freeze({ ok: false, status: 503, outcome: 'busy' });
const TIMED_OUT: Refusal = Object.freeze({ ok: false, status: 503, outcome: 'timeout' });
const failed = (error: unknown): Refusal => ({ ok: false, status: 500, outcome: 'error', error });

/**
 * Builds the authenticator once per stream, for the WebSocket handshake and the router's requests alike.
 * API keys are compared as SHA-256 digests in constant time (see {@link ApiKeySet}; `keys` may be replaced
 * at runtime). A credential that is present and unambiguous grants when it is one of the keys, else, with
 * the `jwt` option and the shape of a JWT, when it verifies (its `types` and `sources` claims narrow the
 * grant). Every other request goes to the `authenticate` hook if there is one (it may accept a cookie or
 * Basic credentials), else is refused 401. What the hook returns is awaited if it is thenable and grants
 * only if it is `true` or an object whose `types` is an array; a hook that does not settle within
 * `authenticateTimeoutMs` is answered 503, and so is every request past `maxPendingAuthentications`
 * waiting on it; a hook that throws or rejects, 500.
 */
export function createAuthenticator(
  options: AuthOptions,
  keys: ApiKeySet = new ApiKeySet(options.apiKeys),
): (request: StreamRequest) => AuthResult | Promise<AuthResult> {
  const verifyJwt: JwtVerifier | undefined = options.jwt && createJwtVerifier(options.jwt, options.logger);
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

  const otherwise = (request: StreamRequest): AuthResult | Promise<AuthResult> =>
    options.authenticate === undefined ? UNAUTHORIZED : runHook(request, options.authenticate);

  return (request) => {
    if (!options.authRequired) return ALL;
    const { key, ambiguous } = request.credential;
    if (typeof key !== 'string' || ambiguous) return otherwise(request);
    const keyId = keys.match(key);
    if (keyId !== null) return { ok: true, grant: EVERYTHING, session: { keyId } };
    if (verifyJwt === undefined || !isJwtShaped(key)) return otherwise(request);
    return verifyJwt(key).then((token) => (token === null ? otherwise(request) : tokenGrant(token)));
  };
}

function tokenGrant({ types, sources, expiresAtMs }: VerifiedToken): AuthResult {
  return { ok: true, grant: sources === undefined ? { types } : { types, sources: [sources] }, session: { expiresAtMs } };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

/**
 * Fail closed: only `true` or `{ types: [...] }` (with, optionally, `sources: [...]` and `expiresAt`) is a
 * grant; anything else is a refusal: `sources` that is not an array of strings, an `expiresAt` that is not
 * a finite epoch-milliseconds number or a valid Date, or one already past, included.
 */
function grant(verdict: unknown): AuthResult {
  if (verdict === true) return ALL;
  if (typeof verdict !== 'object' || verdict === null || Array.isArray(verdict)) return UNAUTHORIZED;
  const { types, sources, expiresAt } = verdict as { types?: unknown; sources?: unknown; expiresAt?: unknown };
  if (!Array.isArray(types)) return UNAUTHORIZED;
  if (sources !== undefined && (!Array.isArray(sources) || !sources.every((s) => typeof s === 'string'))) return UNAUTHORIZED;
  const expiresAtMs = expiresAt instanceof Date ? expiresAt.getTime() : expiresAt;
  if (expiresAtMs !== undefined && (typeof expiresAtMs !== 'number' || !Number.isFinite(expiresAtMs) || expiresAtMs <= Date.now())) {
    return UNAUTHORIZED;
  }
  const allowed = new Set(types.filter((t): t is EnvelopeType => typeof t === 'string' && isEnvelopeType(t)));
  const filter: ClientFilter = sources === undefined ? { types: allowed } : { types: allowed, sources: [new Set(sources as string[])] };
  return expiresAtMs === undefined ? { ok: true, grant: filter } : { ok: true, grant: filter, session: { expiresAtMs } };
}
