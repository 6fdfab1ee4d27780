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

/**
 * Registers `listener` for upgrades on `path`. Every stream on a server shares one `upgrade` listener,
 * which routes by exact path; an upgrade to a path no stream serves is left to the host's own `upgrade`
 * listeners, or answered 404 when there are none (a socket nobody answers would hang). Every upgrade
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
      const route = byPath.get((req.url ?? '').split('?', 1)[0] as string);
      if (route) route(req, socket, head);
      else if (server.listenerCount('upgrade') === 1) rejectHandshake(socket, 404);
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
