import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../../shared/logger.js';
import { PROTOCOL_V1 } from '../../protocol/wire.js';
import type { Admission, Admitted } from './admission.js';
import { badRequest, type Refusal } from './outcomes.js';
import { parseStreamRequest, type StreamRequest } from './request.js';

export interface UpgradeHandlerOptions {
  readonly path: string;
  readonly logger: Logger;
  readonly allowedOrigins: ReadonlySet<string> | undefined;
  /** Whether permessage-deflate is negotiated with clients that offer it. */
  readonly compression: boolean;
  /** Validates the query and authenticates (see `createAdmission`). */
  admit(request: StreamRequest): Admission | Promise<Admission>;
  /** Whether one more client may be served now. */
  hasCapacity(): boolean;
  accept(ws: WebSocket, admitted: Admitted): void;
  onRejected(refusal: Refusal): void;
}

export interface UpgradeHandler {
  /** The `upgrade` listener for the stream's path. */
  (req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes its ws server and destroys every handshake still waiting on `authenticate`, so that `server.close()` can complete. */
  close(): void;
}

/** Largest frame a client may send; clients only listen, so any data frame is closed anyway. */
const MAX_CLIENT_FRAME_BYTES = 1024;

/**
 * The ws server that completes the stream's handshakes: no tracking (the hub tracks clients). With
 * `compression`, it negotiates permessage-deflate (RFC 7692) with clients that offer it, honouring their
 * parameters, but never compresses anything itself (`threshold: Infinity`): the fan-out writes frames it
 * compressed once per group of clients (shared-deflate.ts), which a compression context per client in ws
 * would contradict. The upgrade handler has refused every list of subprotocols without v1, so v1 is
 * selected whenever any is offered, and never the key subprotocol.
 */
function createWebSocketServer(compression: boolean): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: compression ? { threshold: Number.POSITIVE_INFINITY } : false,
    maxPayload: MAX_CLIENT_FRAME_BYTES,
    handleProtocols: () => PROTOCOL_V1,
  });
}

/** Seconds a client refused for capacity (or a slow `authenticate`) is told to wait. */
const RETRY_AFTER_S = 5;

/** Answers a handshake with a plain HTTP error and closes the socket; no WebSocket is created. */
export function rejectHandshake(socket: Duplex, status: number, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = STATUS_CODES[status] ?? 'Error';
  const lines = [
    `HTTP/1.1 ${status} ${body}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * Whether the offered subprotocols are acceptable: none at all (a client written from the message
 * shapes alone), or a list that includes {@link PROTOCOL_V1}. The key subprotocol is not a protocol
 * the server speaks, so a list of only that is refused like any unknown one.
 */
export function acceptsProtocols(offered: readonly string[]): boolean {
  return offered.length === 0 || offered.includes(PROTOCOL_V1);
}

const FORBIDDEN: Refusal = Object.freeze({ ok: false, status: 403, outcome: 'forbidden' });
const FULL: Refusal = Object.freeze({ ok: false, status: 503, outcome: 'full' });

/**
 * The stream's `upgrade` listener for its own path (routing by path is done by `routeUpgrades`). The request
 * is parsed once; then, in order: origin (403), subprotocol (400), query (400), authentication (401; 500 when
 * the hook fails; 503 when it is too slow or too many wait on it), capacity (503 + Retry-After), all answered
 * in plain HTTP before any WebSocket exists. Logs the path and outcome, never the query string or the
 * subprotocol header (keys travel there).
 */
export function createUpgradeHandler(o: UpgradeHandlerOptions): UpgradeHandler {
  const wss = createWebSocketServer(o.compression);
  const pending = new Set<Duplex>();
  const refuse = (socket: Duplex, refusal: Refusal): void => {
    if (refusal.status === 500) o.logger.error({ event: 'authenticate_failed', err: refusal.error, path: o.path }, 'authenticate() failed');
    o.onRejected(refusal);
    rejectHandshake(socket, refusal.status, refusal.status === 503 ? { 'Retry-After': String(RETRY_AFTER_S) } : undefined);
  };

  const complete = (req: IncomingMessage, socket: Duplex, head: Buffer, admission: Admission): void => {
    pending.delete(socket);
    if (socket.destroyed) return;
    if (!admission.ok) return refuse(socket, admission);
    if (!o.hasCapacity()) return refuse(socket, FULL);
    // With no verifyClient, ws completes the upgrade synchronously (extensions included), so the
    // capacity check and `accept` cannot interleave with another handshake.
    wss.handleUpgrade(req, socket, head, (ws) => o.accept(ws, admission));
  };

  const handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const request = parseStreamRequest(req);
    if (o.allowedOrigins !== undefined && request.origin !== undefined && !o.allowedOrigins.has(request.origin)) {
      return refuse(socket, FORBIDDEN);
    }
    if (!acceptsProtocols(request.protocols)) return refuse(socket, badRequest('protocol'));
    const admission = o.admit(request);
    if (admission instanceof Promise) {
      pending.add(socket);
      void admission.then((a) => complete(req, socket, head, a));
    } else {
      complete(req, socket, head, admission);
    }
  };
  return Object.assign(handle, {
    close() {
      wss.close();
      for (const socket of pending) socket.destroy();
      pending.clear();
    },
  });
}
