import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { AuthDecision } from './auth.js';
import type { Logger } from './logger.js';
import type { EnvelopeType } from './protocol.js';

export interface UpgradeHandlerOptions {
  readonly server: Server;
  readonly path: string;
  readonly wss: WebSocketServer;
  readonly logger: Logger;
  readonly allowedOrigins: ReadonlySet<string> | undefined;
  authenticate(req: IncomingMessage): AuthDecision | Promise<AuthDecision>;
  /** Whether one more client may be served now. */
  hasCapacity(): boolean;
  accept(ws: WebSocket, req: IncomingMessage, types: ReadonlySet<EnvelopeType> | null): void;
  onRejected(status: number): void;
}

/** Seconds a client refused for capacity is told to wait. */
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
 * The server's `upgrade` listener. On our path: origin (403), authentication (401, or 400 for an
 * unknown `types`), capacity (503 + Retry-After), all answered in plain HTTP before any WebSocket
 * exists. Other paths are left to the host's other `upgrade` listeners; if there are none, they get 404
 * instead of a socket that hangs. Logs the path and outcome, never the query string (keys travel there).
 */
export function createUpgradeHandler(o: UpgradeHandlerOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  // One listener for every handshake socket: a closure created inside the per-request function below
  // would share that function's scope and keep each request, socket and head buffer alive for as long
  // as the connection lasts.
  const onSocketError = (err: Error): void => o.logger.debug({ err, path: o.path }, 'handshake socket error');
  const refuse = (socket: Duplex, status: number, headers?: Record<string, string>): void => {
    o.onRejected(status);
    rejectHandshake(socket, status, headers);
  };

  const complete = (req: IncomingMessage, socket: Duplex, head: Buffer, decision: AuthDecision): void => {
    if (socket.destroyed) return;
    if (!decision.ok) {
      if (decision.status === 500) o.logger.error({ err: decision.error, path: o.path }, 'authenticate() failed');
      refuse(socket, decision.status);
      return;
    }
    if (!o.hasCapacity()) {
      refuse(socket, 503, { 'Retry-After': String(RETRY_AFTER_S) });
      return;
    }
    // With no verifyClient and no compression, ws completes the upgrade synchronously, so the
    // capacity check and `accept` cannot interleave with another handshake.
    o.wss.handleUpgrade(req, socket, head, (ws) => o.accept(ws, req, decision.types));
  };

  return (req, socket, head) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== o.path) {
      if (o.server.listenerCount('upgrade') === 1) rejectHandshake(socket, 404);
      return;
    }
    socket.on('error', onSocketError);
    const origin = req.headers.origin;
    if (o.allowedOrigins !== undefined && origin !== undefined && !o.allowedOrigins.has(origin)) {
      refuse(socket, 403);
      return;
    }
    const decision = o.authenticate(req);
    if (decision instanceof Promise) {
      decision.then((d) => complete(req, socket, head, d));
    } else {
      complete(req, socket, head, decision);
    }
  };
}
