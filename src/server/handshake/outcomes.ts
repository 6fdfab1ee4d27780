import type { BadRequestPart } from './request.js';

/**
 * How a handshake on the stream's path ended: `accepted`, or why it was refused. `unauthorized` 401,
 * `forbidden` 403 (origin), `bad_request` 400 (subprotocol or query), `error` 500 (`authenticate`
 * threw or rejected), `timeout` 503 (`authenticate` did not settle within `authenticateTimeoutMs`),
 * `busy` 503 (`maxPendingAuthentications` were already waiting), `full` 503 (`maxClients` reached).
 */
export const HANDSHAKE_OUTCOMES = ['accepted', 'unauthorized', 'forbidden', 'bad_request', 'full', 'timeout', 'busy', 'error'] as const;
export type HandshakeOutcome = (typeof HANDSHAKE_OUTCOMES)[number];
export type HandshakeRefusal = Exclude<HandshakeOutcome, 'accepted'>;

/** A refused request: the HTTP status it is answered with and the outcome it is counted as. */
export interface Refusal {
  readonly ok: false;
  readonly status: 400 | 401 | 403 | 500 | 503;
  readonly outcome: HandshakeRefusal;
  /** For a 400: which part of the request was wrong (`protocol` for the subprotocol list). */
  readonly part?: BadRequestPart | 'protocol';
  /** For a 500: what `authenticate()` threw or rejected with (logged, never sent). */
  readonly error?: unknown;
}

/** The refusal of a request whose `part` is not valid. */
export const badRequest = (part: BadRequestPart | 'protocol'): Refusal => ({ ok: false, status: 400, outcome: 'bad_request', part });
