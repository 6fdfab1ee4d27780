import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isEnvelopeType, MAX_API_KEY_BYTES, type ResolvedOptions } from './options.js';
import type { EnvelopeType } from './protocol.js';

/** The outcome of authenticating one request. `types: null` means every type. */
export type AuthDecision =
  | { readonly ok: true; readonly types: ReadonlySet<EnvelopeType> | null }
  | { readonly ok: false; readonly status: 400 | 401 | 500; readonly error?: unknown };

const ALL: AuthDecision = Object.freeze({ ok: true, types: null });
const UNAUTHORIZED: AuthDecision = Object.freeze({ ok: false, status: 401 });

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The API key a request presents: the `api_key` query parameter, the `x-api-key` header or
 * `Authorization: Bearer`. `undefined` when none is present; `null` when the request is ambiguous
 * (the parameter repeated, or different keys in different places), which is refused.
 */
export function presentedApiKey(req: IncomingMessage, query: URLSearchParams): string | null | undefined {
  const candidates = query.getAll('api_key');
  if (candidates.length > 1) return null;
  const header = req.headers['x-api-key'];
  if (typeof header === 'string') candidates.push(header);
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const bearer = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!bearer) return null;
    candidates.push(bearer[1] as string);
  }
  if (candidates.length === 0) return undefined;
  return candidates.every((c) => c === candidates[0]) ? (candidates[0] as string) : null;
}

/**
 * Builds the request authenticator once per stream. API keys are compared as SHA-256 digests with
 * `timingSafeEqual`, against every configured key without stopping early, so timing reveals neither
 * which key matched nor how much of it. The optional `?types=a,b` query narrows what the client receives.
 */
export function createAuthenticator(options: ResolvedOptions): (req: IncomingMessage) => AuthDecision | Promise<AuthDecision> {
  const digests = options.apiKeys.map(sha256);
  const matchesKey = (key: string): boolean => {
    if (Buffer.byteLength(key) > MAX_API_KEY_BYTES) return false;
    const digest = sha256(key);
    let match = false;
    for (const expected of digests) match = timingSafeEqual(digest, expected) || match;
    return match;
  };

  return (req) => {
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const requested = requestedTypes(query);
    if (requested === null) return { ok: false, status: 400 };
    if (!options.authRequired) return narrow(ALL, requested);

    const key = presentedApiKey(req, query);
    if (key === null) return UNAUTHORIZED;
    if (key !== undefined && digests.length > 0 && matchesKey(key)) return narrow(ALL, requested);
    if (options.authenticate === undefined) return UNAUTHORIZED;

    let verdict: ReturnType<NonNullable<ResolvedOptions['authenticate']>>;
    try {
      verdict = options.authenticate(req);
    } catch (error) {
      return { ok: false, status: 500, error };
    }
    if (!(verdict instanceof Promise)) return narrow(grant(verdict), requested);
    return verdict.then(
      (v) => narrow(grant(v), requested),
      (error: unknown): AuthDecision => ({ ok: false, status: 500, error }),
    );
  };
}

function grant(verdict: unknown): AuthDecision {
  if (verdict === true) return ALL;
  if (typeof verdict !== 'object' || verdict === null) return UNAUTHORIZED;
  const types = (verdict as { types?: unknown }).types;
  if (types === undefined) return ALL;
  if (!Array.isArray(types)) return { ok: false, status: 500, error: new TypeError('authenticate() returned invalid `types`') };
  return { ok: true, types: new Set(types.filter((t): t is EnvelopeType => typeof t === 'string' && isEnvelopeType(t))) };
}

/** `?types=system_metric,alert`: `undefined` when absent, `null` when it names an unknown type. */
function requestedTypes(query: URLSearchParams): ReadonlySet<EnvelopeType> | null | undefined {
  const raw = query.getAll('types');
  if (raw.length === 0) return undefined;
  const names = raw.join(',').split(',').filter(Boolean);
  return names.every(isEnvelopeType) ? new Set(names) : null;
}

function narrow(decision: AuthDecision, requested: ReadonlySet<EnvelopeType> | undefined): AuthDecision {
  if (!decision.ok || requested === undefined) return decision;
  const types = decision.types === null ? requested : new Set([...requested].filter((t) => decision.types?.has(t)));
  return { ok: true, types };
}
