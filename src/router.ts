import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthDecision } from './auth.js';
import type { Logger } from './logger.js';
import type { MetricsRoute } from './metrics-route.js';
import type { RedisState } from './redis-health.js';

/**
 * A connect/Express-style middleware; `app.use('/api/system', stream.router())` mounts it.
 * @public
 */
export type SystemStreamRouter = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/**
 * Body of `GET …/health`.
 * @public
 */
export interface HealthReport {
  /** `ok` while Redis is up, else `unavailable` (HTTP 503). */
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
  authenticate(req: IncomingMessage): AuthDecision | Promise<AuthDecision>;
  snapshotJson(types: ReadonlySet<string> | null): string;
  health(): HealthReport;
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

/**
 * `GET snapshot` (same authentication as the WebSocket; the successor of the polling endpoint),
 * `GET health` (no authentication: for load balancers; it tells only state and counts), and 426 for a
 * plain HTTP request to the WebSocket path, and `GET metrics` when the stream has metrics (see
 * createMetricsRoute). Anything else goes to `next`.
 */
export function createRouter(ctx: RouterContext): SystemStreamRouter {
  const answer = (req: IncomingMessage, res: ServerResponse, decision: AuthDecision): void => {
    if (!decision.ok) {
      if (decision.status === 500) ctx.logger.error({ event: 'authenticate_failed', err: decision.error }, 'authenticate() failed');
      sendJson(res, decision.status, JSON.stringify({ error: decision.status === 401 ? 'unauthorized' : 'error' }));
      return;
    }
    sendJson(res, 200, ctx.snapshotJson(decision.types));
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
      const report = ctx.health();
      sendJson(res, report.status === 'ok' ? 200 : 503, JSON.stringify(report));
      return;
    }
    next?.();
  };
}
