import type { AuthDecision } from './auth.js';

/**
 * How a handshake on the stream's path ended: `accepted`, or why it was refused. `unauthorized` 401,
 * `forbidden` 403 (origin), `bad_request` 400 (subprotocol or `types`), `error` 500 (`authenticate`
 * threw or rejected), `timeout` 503 (`authenticate` did not settle within `authenticateTimeoutMs`),
 * `busy` 503 (`maxPendingAuthentications` were already waiting), `full` 503 (`maxClients` reached).
 */
export const HANDSHAKE_OUTCOMES = ['accepted', 'unauthorized', 'forbidden', 'bad_request', 'full', 'timeout', 'busy', 'error'] as const;
export type HandshakeOutcome = (typeof HANDSHAKE_OUTCOMES)[number];
export type HandshakeRefusal = Exclude<HandshakeOutcome, 'accepted'>;

/** The outcome of a refused authentication. */
export function refusalOf(decision: AuthDecision & { ok: false }): HandshakeRefusal {
  switch (decision.status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 500:
      return 'error';
    case 503:
      return decision.reason ?? 'busy';
  }
}
