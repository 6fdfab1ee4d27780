import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { invalidOption, SystemStreamError } from '../../shared/errors.js';
import { rejectHandshake } from './upgrade.js';

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

interface Routes {
  readonly byPath: Map<string, UpgradeListener>;
  readonly dispatch: UpgradeListener;
}

const routesByServer = new WeakMap<Server, Routes>();

/** Handshake sockets' shared error listener: a client that resets the connection must not crash the host. */
function ignoreSocketError(): void {}

/** Throws `SST_ERR_INVALID_OPTION` if `server` is not an http(s) server: the first mistake to name. */
export function assertServer(server: unknown): asserts server is Server {
  const candidate = server as Partial<Server> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.on !== 'function' ||
    typeof candidate.listenerCount !== 'function'
  ) {
    throw invalidOption('Expected `server` to be an http.Server or https.Server');
  }
}

/** Throws `SST_ERR_ALREADY_ATTACHED` if a stream already serves `path` on `server`. */
export function assertRouteFree(server: Server, path: string): void {
  if (routesByServer.get(server)?.byPath.has(path)) {
    throw new SystemStreamError('SST_ERR_ALREADY_ATTACHED', `A system stream is already attached to this server at ${path}`);
  }
}

/** Whether `req` asks for a WebSocket (and not, say, `Upgrade: h2c`, which curl and Java's HttpClient offer). */
function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** Connection options that name the upgrade, dropped when the request is served without it. */
const UPGRADE_TOKENS = new Set(['upgrade', 'http2-settings']);

/**
 * Serves an upgrade request nobody takes as the plain request it also is, as if the stream were not
 * attached: Node sends every request that offers an upgrade to the `upgrade` listeners once there is one,
 * so without this, `Upgrade: h2c` on any host route (a POST included) would never reach the host's handler.
 * The request head is written back without its upgrade headers, before what was read after it, and the
 * socket is handed to the server as a new connection, which parses it as usual (keep-alive included).
 * Declining an offered upgrade this way is what RFC 9110 §7.8 allows a server to do.
 */
function serveAsRequest(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    let value = req.rawHeaders[i + 1] as string;
    const lower = name.toLowerCase();
    if (lower === 'upgrade' || lower === 'http2-settings') continue;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((token) => token.trim())
        .filter((token) => token !== '' && !UPGRADE_TOKENS.has(token.toLowerCase()))
        .join(', ');
      if (value === '') continue;
    }
    lines.push(`${name}: ${value}`);
  }
  socket.off('error', ignoreSocketError); // the server's connection handling takes over, with its own
  socket.unshift(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), head]));
  // An https server parses HTTP on its TLS sockets from `secureConnection`, a plain one from `connection`.
  server.emit((socket as { encrypted?: boolean }).encrypted === true ? 'secureConnection' : 'connection', socket);
}

/**
 * Registers `listener` for WebSocket upgrades on `path`. Every stream on a server shares one `upgrade`
 * listener, which routes WebSocket upgrades by exact path. Any other upgrade request (another path, or
 * another protocol such as `h2c`) is left to the host's own `upgrade` listeners if it has some, else served
 * to its request handler as a plain request (see `serveAsRequest`), else answered 404 (a socket nobody
 * answers would hang). Every upgrade
 * socket it sees gets an `'error'` listener first: Node removes its own when it emits `upgrade`, and a
 * reset connection would otherwise raise an unhandled `'error'`. Returns the function that unregisters.
 * Throws `SST_ERR_ALREADY_ATTACHED` if a stream already serves `path` on `server`.
 */
export function routeUpgrades(server: Server, path: string, listener: UpgradeListener): () => void {
  assertRouteFree(server, path);
  let routes = routesByServer.get(server);
  if (routes === undefined) {
    const byPath = new Map<string, UpgradeListener>();
    const dispatch: UpgradeListener = (req, socket, head) => {
      socket.on('error', ignoreSocketError);
      const route = isWebSocketUpgrade(req) ? byPath.get((req.url ?? '').split('?', 1)[0] as string) : undefined;
      if (route) route(req, socket, head);
      else if (server.listenerCount('upgrade') > 1)
        return; // the host's own upgrade listeners answer it
      else if (server.listenerCount('request') > 0) serveAsRequest(server, req, socket, head);
      else rejectHandshake(socket, 404);
    };
    routes = { byPath, dispatch };
    routesByServer.set(server, routes);
    server.on('upgrade', dispatch);
  }
  routes.byPath.set(path, listener);
  const { byPath, dispatch } = routes;
  return () => {
    if (byPath.get(path) !== listener) return;
    byPath.delete(path);
    if (byPath.size > 0) return;
    server.off('upgrade', dispatch);
    routesByServer.delete(server);
  };
}
