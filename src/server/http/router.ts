import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admission } from '../handshake/admission.js';
import type { ClientFilter } from '../fanout/client-filter.js';
import type { Logger } from '../../shared/logger.js';
import type { MetricsRoute } from './metrics-route.js';
import type { RedisState } from '../../redis/health.js';

/**
 * A connect/Express-style middleware; `app.use('/api/system', stream.router())` mounts it. It also works
 * as a plain `http.createServer(stream.router())` handler, which has no `next`: other paths then get 404.
 * @public
 */
export type SystemStreamRouter = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/**
 * Body of `GET …/health` (liveness) and `GET …/ready` (readiness).
 *
 * `/health` answers 200 with `status: "ok"` whenever the process serves HTTP, also during a Redis outage,
 * so that a liveness probe does not restart the host, or take its whole API out of rotation, because
 * Redis is down. `/ready` answers 200 while Redis is up and 503 otherwise: probe it to route dashboard
 * traffic only to hosts whose stream delivers.
 * @public
 */
export interface HealthReport {
  /** `/health`: always `ok`. `/ready`: `ok` while Redis is up, else `unavailable` (HTTP 503). */
  readonly status: 'ok' | 'unavailable';
  /** The subscriber's state. */
  readonly redis: RedisState;
  /** WebSocket clients connected now. */
  readonly clients: number;
  /** The `maxClients` option. */
  readonly maxClients: number;
}

export interface RouterContext {
  readonly wsPath: string;
  readonly logger: Logger;
  authenticate(req: IncomingMessage): Admission | Promise<Admission>;
  snapshotJson(filter: ClientFilter): string;
  health(): Omit<HealthReport, 'status'>;
  /** `GET metrics`, when the stream has metrics. */
  readonly metrics: MetricsRoute | undefined;
}

function sendJson(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/** The browser client as one ES module, built by scripts/bundle-client.mjs, with its ETag. */
interface ClientModule {
  readonly body: Buffer;
  readonly etag: string;
}

/**
 * Where the one-file client is: beside the compiled entries in dist/ (this file is dist/server/http/router.js),
 * or, when the sources run directly (tests, a TypeScript loader), in the package's dist/ next to src/.
 */
const CLIENT_MODULE_URLS = ['../../system-stream-client.js', '../../../dist/system-stream-client.js'];
let clientModule: ClientModule | undefined;
let isMissingLogged = false;

/**
 * Read on the first request and kept (about 20 KB); `undefined` while the file is missing (a package built
 * without it), looked for again on the next request, so that a missing file is never an error at attach.
 */
function loadClientModule(): ClientModule | undefined {
  for (const relative of clientModule === undefined ? CLIENT_MODULE_URLS : []) {
    try {
      const body = readFileSync(new URL(relative, import.meta.url));
      clientModule = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
      break;
    } catch {
      // not there: try the next place
    }
  }
  return clientModule;
}

/** Whether an `If-None-Match` header names `etag` (or is `*`); weak validators compare equal, as RFC 9110 says for GET. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/**
 * `GET client.js`: the browser client as one self-contained ES module, so that a page imports
 * `StreamManager` from it with no bundler. Public (it is the package's code, the same for everyone),
 * cached by the browser and revalidated with its ETag on each use, so a new version is picked up at the
 * next page load and an unchanged one costs a 304.
 */
function serveClientModule(req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  const mod = loadClientModule();
  if (mod === undefined) {
    if (!isMissingLogged)
      logger.warn({ event: 'client_module_missing' }, 'dist/system-stream-client.js is missing: the package was built without it');
    isMissingLogged = true;
    sendJson(res, 404, JSON.stringify({ error: 'client.js is not built' }));
    return;
  }
  const headers = { ETag: mod.etag, 'Cache-Control': 'public, no-cache', 'X-Content-Type-Options': 'nosniff' };
  if (matchesEtag(req.headers['if-none-match'], mod.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8', 'Content-Length': mod.body.length });
  res.end(req.method === 'HEAD' ? undefined : mod.body);
}

/**
 * `GET snapshot` (same authentication as the WebSocket; the successor of the polling endpoint),
 * `GET health` and `GET ready` (no authentication: for probes and load balancers; they tell only state
 * and counts), `GET metrics` when the stream has metrics (see createMetricsRoute), and 426 for a plain
 * HTTP request to the WebSocket path, and `GET client.js` (the browser client as one ES module, no
 * authentication). Anything else goes to `next`, or, used as a plain
 * `http.createServer` handler without one, gets 404.
 */
export function createRouter(ctx: RouterContext): SystemStreamRouter {
  const answer = (req: IncomingMessage, res: ServerResponse, decision: Admission): void => {
    if (!decision.ok) {
      if (decision.status === 500) ctx.logger.error({ event: 'authenticate_failed', err: decision.error }, 'authenticate() failed');
      sendJson(res, decision.status, JSON.stringify({ error: decision.status === 401 ? 'unauthorized' : 'error' }));
      return;
    }
    sendJson(res, 200, ctx.snapshotJson(decision.filter));
  };

  return (req, res, next) => {
    const mounted = (req.url ?? '/').split('?', 1)[0];
    const full = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/').split('?', 1)[0];
    const method = req.method ?? 'GET';
    if (full === ctx.wsPath) {
      sendJson(res, 426, JSON.stringify({ error: 'upgrade required: connect with a WebSocket client' }), {
        Upgrade: 'websocket',
        Connection: 'Upgrade',
      });
      return;
    }
    if (ctx.metrics !== undefined && (method === 'GET' || method === 'HEAD') && mounted === '/metrics') {
      ctx.metrics(req, res, next);
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && mounted === '/snapshot') {
      const decision = ctx.authenticate(req);
      if (decision instanceof Promise) decision.then((d) => answer(req, res, d), next);
      else answer(req, res, decision);
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && mounted === '/health') {
      sendJson(res, 200, JSON.stringify({ status: 'ok', ...ctx.health() } satisfies HealthReport));
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && mounted === '/client.js') {
      serveClientModule(req, res, ctx.logger);
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && mounted === '/ready') {
      const state = ctx.health();
      const isUp = state.redis === 'up';
      sendJson(res, isUp ? 200 : 503, JSON.stringify({ status: isUp ? 'ok' : 'unavailable', ...state } satisfies HealthReport));
      return;
    }
    if (next) next();
    else sendJson(res, 404, JSON.stringify({ error: 'not found' }));
  };
}
