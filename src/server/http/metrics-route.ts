import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admission } from '../handshake/admission.js';
import type { Logger } from '../../shared/logger.js';
import type { MetricsRegistry } from './metrics.js';

export type MetricsRoute = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

function sendError(res: ServerResponse, status: number): void {
  const body = JSON.stringify({ error: status === 401 ? 'unauthorized' : 'error' });
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/**
 * `GET metrics`: the registry in the Prometheus text format. With `authenticate` (the `metricsAuth:
 * 'same'` default) it asks for what the snapshot asks for, an API key or a grant of the hook, and any
 * grant will do (a client limited to some envelope types still sees the stream's counters, which name
 * no source or metric). Without it, anyone who reaches the route may scrape it.
 */
export function createMetricsRoute(
  registry: MetricsRegistry,
  authenticate: ((req: IncomingMessage) => Admission | Promise<Admission>) | undefined,
  logger: Logger,
): MetricsRoute {
  const serve = (res: ServerResponse): void => {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, {
          'Content-Type': registry.contentType,
          'Content-Length': Buffer.byteLength(text),
          'Cache-Control': 'no-store',
        });
        res.end(text);
      },
      (err: unknown) => {
        logger.error({ event: 'metrics_failed', err }, 'collecting metrics failed');
        sendError(res, 500);
      },
    );
  };
  const answer = (res: ServerResponse, decision: Admission): void => {
    if (decision.ok) return serve(res);
    if (decision.status === 500) logger.error({ event: 'authenticate_failed', err: decision.error }, 'authenticate() failed');
    sendError(res, decision.status);
  };
  return (req, res, next) => {
    if (authenticate === undefined) return serve(res);
    const decision = authenticate(req);
    if (decision instanceof Promise) decision.then((d) => answer(res, d), next);
    else answer(res, decision);
  };
}
