import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { requestedFilter, type ClientFilter } from '../fanout/client-filter.js';
import { isEnvelopeType, MAX_API_KEY_BYTES, type ResolvedOptions } from '../options.js';
import { KEY_PROTOCOL_PREFIX, type EnvelopeType } from '../../protocol/wire.js';

/**
 * The outcome of authenticating one request: when it passes, what the client may see (`types: null`:
 * every type). A 503 says why in `reason`: `timeout` when the hook did not settle in time, `busy` when
 * too many requests waited on it.
 */
export type AuthDecision =
  | ({ readonly ok: true } & ClientFilter)
  | { readonly ok: false; readonly status: 400 | 401 | 500 | 503; readonly error?: unknown; readonly reason?: 'timeout' | 'busy' };

/** What a request asks to see: `?types=`, `?source=`, `?metric_type=`, each `undefined` when absent. */
interface Requested {
  readonly types: ReadonlySet<EnvelopeType> | undefined;
  readonly sources: ReadonlySet<string> | undefined;
  readonly metricTypes: ReadonlySet<string> | undefined;
}

const ALL: AuthDecision = Object.freeze({ ok: true, types: null });
const UNAUTHORIZED: AuthDecision = Object.freeze({ ok: false, status: 401 });
const BAD_REQUEST: AuthDecision = Object.freeze({ ok: false, status: 400 });
const BUSY: AuthDecision = Object.freeze({ ok: false, status: 503, reason: 'busy' });
const TIMED_OUT: AuthDecision = Object.freeze({ ok: false, status: 503, reason: 'timeout' });

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/** The API key a request presents, if any, and whether it presents more than one. */
export interface PresentedKey {
  /** `null` for a key subprotocol that is not valid base64url. */
  readonly key: string | null | undefined;
  /** The parameter repeated, several key subprotocols, or different keys in different places. */
  readonly ambiguous: boolean;
}

/**
 * The API key a request presents: the `api_key` query parameter, the `x-api-key` header,
 * `Authorization: Bearer` or the `system-stream.key.<base64url>` subprotocol. An `Authorization` header
 * of another scheme (Basic, …) is not a key: it is left to the `authenticate` hook.
 */
export function presentedApiKey(req: IncomingMessage, query: URLSearchParams): PresentedKey {
  const fromQuery = query.getAll('api_key');
  const fromProtocols = offeredProtocols(req)
    .filter((p) => p.startsWith(KEY_PROTOCOL_PREFIX))
    .map((p) => decodeKeyProtocol(p.slice(KEY_PROTOCOL_PREFIX.length)));
  const candidates = [...fromQuery, ...fromProtocols];
  const header = req.headers['x-api-key'];
  if (typeof header === 'string') candidates.push(header);
  const bearer = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  if (bearer) candidates.push(bearer[1] as string);
  if (candidates.length === 0) return { key: undefined, ambiguous: false };
  const ambiguous = fromQuery.length > 1 || fromProtocols.length > 1 || candidates.some((c) => c !== candidates[0]);
  return { key: candidates[0], ambiguous };
}

/** A key subprotocol's payload; `null` when it is not canonical base64url (a key that was not sent as one). */
function decodeKeyProtocol(encoded: string): string | null {
  const bytes = Buffer.from(encoded, 'base64url');
  return /^[A-Za-z0-9_-]+$/.test(encoded) && bytes.toString('base64url') === encoded ? bytes.toString('utf8') : null;
}

/** The subprotocols a handshake offers, in order. */
export function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/**
 * Builds the request authenticator once per stream, for the WebSocket handshake and the snapshot route
 * alike. API keys are compared as SHA-256 digests with `timingSafeEqual`, against every configured key
 * without stopping early, so timing reveals neither which key matched nor how much of it. Only a key that
 * is present, unambiguous and valid grants at once; every other request goes to the `authenticate` hook
 * if there is one (it may accept a cookie or Basic credentials), else is refused. What the hook returns is
 * awaited if it is thenable and grants only if it is `true` or an object whose `types` is an array; a hook
 * that does not settle within `authenticateTimeoutMs` is answered 503, and so is every request past
 * `maxPendingAuthentications` waiting on it. The optional `?types=a,b`, `?source=a,b` and `?metric_type=a,b`
 * queries narrow what the client receives, together with what the hook granted (AND); one that is empty
 * or names something no envelope can have is answered 400.
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
  let pending = 0;

  const runHook = (req: IncomingMessage, hook: NonNullable<ResolvedOptions['authenticate']>): AuthDecision | Promise<AuthDecision> => {
    let verdict: unknown;
    try {
      verdict = hook(req);
    } catch (error) {
      return { ok: false, status: 500, error };
    }
    if (!isThenable(verdict)) return grant(verdict);
    if (pending >= options.maxPendingAuthentications) return BUSY;
    pending++;
    return new Promise<AuthDecision>((resolve) => {
      let settled = false;
      const settle = (decision: AuthDecision): void => {
        if (settled) return;
        settled = true;
        pending--;
        clearTimeout(timer);
        resolve(decision);
      };
      const timer = setTimeout(() => settle(TIMED_OUT), options.authenticateTimeoutMs);
      timer.unref();
      try {
        verdict.then(
          (v) => settle(grant(v)),
          (error: unknown) => settle({ ok: false, status: 500, error }),
        );
      } catch (error) {
        settle({ ok: false, status: 500, error }); // a thenable whose then() throws
      }
    });
  };

  return (req) => {
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const types = requestedTypes(query);
    const filter = requestedFilter(query);
    if (types === null || filter === null) return BAD_REQUEST;
    const requested: Requested = { types, ...filter };
    if (!options.authRequired) return narrow(ALL, requested);

    const { key, ambiguous } = presentedApiKey(req, query);
    if (typeof key === 'string' && !ambiguous && digests.length > 0 && matchesKey(key)) return narrow(ALL, requested);
    if (options.authenticate === undefined) return UNAUTHORIZED;
    const decision = runHook(req, options.authenticate);
    return decision instanceof Promise ? decision.then((d) => narrow(d, requested)) : narrow(decision, requested);
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
function grant(verdict: unknown): AuthDecision {
  if (verdict === true) return ALL;
  if (typeof verdict !== 'object' || verdict === null || Array.isArray(verdict)) return UNAUTHORIZED;
  const { types, sources } = verdict as { types?: unknown; sources?: unknown };
  if (!Array.isArray(types)) return UNAUTHORIZED;
  if (sources !== undefined && (!Array.isArray(sources) || !sources.every((s) => typeof s === 'string'))) return UNAUTHORIZED;
  const allowed = new Set(types.filter((t): t is EnvelopeType => typeof t === 'string' && isEnvelopeType(t)));
  return sources === undefined ? { ok: true, types: allowed } : { ok: true, types: allowed, sources: [new Set(sources as string[])] };
}

/** `?types=system_metric,alert`: `undefined` when absent, `null` when empty or naming an unknown type. */
function requestedTypes(query: URLSearchParams): ReadonlySet<EnvelopeType> | null | undefined {
  const raw = query.getAll('types');
  if (raw.length === 0) return undefined;
  const names = raw.join(',').split(',').filter(Boolean);
  return names.length > 0 && names.every(isEnvelopeType) ? new Set(names) : null;
}

/** What the client may see: the grant narrowed by what the request asks for. */
function narrow(decision: AuthDecision, requested: Requested): AuthDecision {
  if (!decision.ok) return decision;
  const { types: asked, sources, metricTypes } = requested;
  if (asked === undefined && sources === undefined && metricTypes === undefined) return decision;
  const types =
    asked === undefined ? decision.types : decision.types === null ? asked : new Set([...asked].filter((t) => decision.types?.has(t)));
  const allSources = sources === undefined ? decision.sources : [...(decision.sources ?? []), sources];
  return {
    ok: true,
    types,
    ...(allSources === undefined ? {} : { sources: allSources }),
    ...(metricTypes === undefined ? {} : { metricTypes }),
  };
}
