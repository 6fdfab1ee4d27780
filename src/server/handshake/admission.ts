import type { ClientFilter } from '../fanout/client-filter.js';
import type { AuthResult } from './auth.js';
import { badRequest, type Refusal } from './outcomes.js';
import type { StreamRequest } from './request.js';
import type { SessionCredential } from './session-expiry.js';

/** A request let in: what the client may see and, for a handshake, where its history starts. */
export interface Admitted {
  readonly ok: true;
  readonly filter: ClientFilter;
  /** `?since=` in epoch milliseconds; `undefined` when the request asks for none. */
  readonly sinceMs: number | undefined;
  /** What the session's access depends on (an API key, a credential that expires); absent when nothing. */
  readonly session?: SessionCredential | undefined;
}

export type Admission = Admitted | Refusal;

/**
 * The rule every stream request passes, after the checks only a handshake has (origin, subprotocol): its
 * query must be valid (else 400, naming the part), then `authenticate` must grant it; what it may see is the
 * grant narrowed by what it asks for (`?types=`, `?source=`, `?metric_type=`, all combined by AND).
 */
export function createAdmission(
  authenticate: (request: StreamRequest) => AuthResult | Promise<AuthResult>,
): (request: StreamRequest) => Admission | Promise<Admission> {
  return (request) => {
    if (request.invalid !== undefined) return badRequest(request.invalid);
    const result = authenticate(request);
    return result instanceof Promise ? result.then((r) => admitted(r, request)) : admitted(result, request);
  };
}

function admitted(result: AuthResult, request: StreamRequest): Admission {
  if (!result.ok) return result;
  return { ok: true, filter: narrow(result.grant, request), sinceMs: request.sinceMs, session: result.session };
}

/** What the client may see: the grant narrowed by what the request asks for. */
function narrow(grant: ClientFilter, request: StreamRequest): ClientFilter {
  const { types: asked, sources, metricTypes } = request;
  if (asked === undefined && sources === undefined && metricTypes === undefined) return grant;
  const types = asked === undefined ? grant.types : grant.types === null ? asked : new Set([...asked].filter((t) => grant.types?.has(t)));
  const allSources = sources === undefined ? grant.sources : [...(grant.sources ?? []), sources];
  return {
    types,
    ...(allSources === undefined ? {} : { sources: allSources }),
    ...(metricTypes === undefined ? {} : { metricTypes }),
  };
}
