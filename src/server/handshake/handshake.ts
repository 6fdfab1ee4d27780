import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { invalidOption } from '../../shared/errors.js';
import type { ResolvedOptions } from '../options.js';
import type { LabelledCounters, StreamCounters } from '../stats.js';
import { createAdmission, type Admission, type Admitted } from './admission.js';
import { apiKeysOption, ApiKeySet } from './api-keys.js';
import { createAuthenticator } from './auth.js';
import { createRefusalSummary } from './refusal-summary.js';
import { parseStreamRequest } from './request.js';
import { createSessionRegistry } from './session-expiry.js';
import { createUpgradeHandler, type UpgradeHandler } from './upgrade.js';

const LOG_INTERVAL_MS = 10_000;

/** The stream options the handshake reads. */
export const HANDSHAKE_OPTION_NAMES = [
  'path',
  'logger',
  'allowedOrigins',
  'compression',
  'maxClients',
  'apiKeys',
  'jwt',
  'authenticate',
  'authRequired',
  'authenticateTimeoutMs',
  'maxPendingAuthentications',
] as const;

export type HandshakeOptions = Pick<ResolvedOptions, (typeof HANDSHAKE_OPTION_NAMES)[number]>;

export interface HandshakeContext {
  readonly counters: StreamCounters;
  readonly labelled: LabelledCounters;
  /** Clients connected now. */
  clients(): number;
  /** Serves a client the handshake let in. */
  accept(ws: WebSocket, admitted: Admitted): void;
}

export interface StreamHandshake {
  /** The `upgrade` listener for the stream's path. */
  readonly onUpgrade: UpgradeHandler;
  /** The same admission for the router's requests (snapshot, metrics): query rules, then authentication. */
  admitRequest(req: IncomingMessage): Admission | Promise<Admission>;
  /** Replaces the accepted API keys (checked like the option) and closes, with 4401, the sessions of keys removed. */
  setApiKeys(keys: readonly string[]): void;
  /** Destroys the handshakes still waiting and logs what is left of the refusal summary. */
  close(): void;
}

/**
 * Everything between a request and an accepted client: parsing, admission, the upgrade itself, and the
 * accounting of refusals (counted by outcome, logged at `debug` one by one and summarised at `warn`).
 */
export function createStreamHandshake(o: HandshakeOptions, ctx: HandshakeContext): StreamHandshake {
  const { counters, labelled } = ctx;
  const keys = new ApiKeySet(o.apiKeys);
  const admit = createAdmission(createAuthenticator(o, keys));
  // Sessions that end with their credential: a token's expiry, a removed key (one timer for all).
  const sessions = createSessionRegistry(o.logger, Date.now, (expired) => (counters.sessionsExpired += expired));
  const refusals = createRefusalSummary((obj, msg) => o.logger.warn({ ...obj, path: o.path }, msg), LOG_INTERVAL_MS);
  const onUpgrade = createUpgradeHandler({
    path: o.path,
    logger: o.logger,
    allowedOrigins: o.allowedOrigins,
    compression: o.compression !== null,
    admit,
    hasCapacity: () => ctx.clients() < o.maxClients,
    onRejected({ outcome, status, part }) {
      counters.rejected++;
      labelled.handshakes[outcome]++;
      refusals.refused(outcome);
      o.logger.debug({ event: 'handshake_refused', path: o.path, status, outcome, part }, 'handshake refused');
    },
    accept(ws, admitted) {
      labelled.handshakes.accepted++;
      ctx.accept(ws, admitted);
      sessions.track(ws, admitted.session);
    },
  });
  return {
    onUpgrade,
    admitRequest: (req) => admit(parseStreamRequest(req)),
    setApiKeys(next) {
      if (!o.authRequired) throw invalidOption('`setApiKeys()` needs a stream attached with authentication, not `auth: false`');
      keys.replace(apiKeysOption('keys', next));
      const revoked = sessions.revokeKeys((id) => keys.has(id));
      counters.sessionsRevoked += revoked;
      o.logger.info({ event: 'api_keys_replaced', path: o.path, keys: keys.size, revoked }, 'API keys replaced');
    },
    close() {
      onUpgrade.close();
      refusals.close();
      sessions.close();
    },
  };
}
