// The example: an existing Express API (its own routes under /api) that gains a live system dashboard by
// mounting system-stream. `npm run example` compiles the library, transpiles this file and runs it.
//
// Without REDIS_URL, an in-process bus carries the messages and the sentinel samples this host inside the
// app: one command, no Redis. With REDIS_URL, the app only subscribes; the sentinel runs as its own
// process (`npm run sentinel`), as in production.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import express, { type Request, type RequestHandler } from 'express';
import { SignJWT } from 'jose';
import {
  attachSystemStream,
  createInProcessBus,
  createSystemPublisher,
  noopLogger,
  type Logger,
  type SystemPublisher,
  type SystemStreamOptions,
  type SystemStreamStats,
} from 'system-stream';
import { startSentinel, type Sentinel, type SentinelOptions } from 'system-stream/sentinel';

/** Options for {@link startExample}. */
export interface ExampleOptions {
  /**
   * TCP port; `0` picks a free one.
   * @defaultValue `3000`
   */
  readonly port?: number;
  /**
   * Interface to listen on.
   * @defaultValue `127.0.0.1`
   */
  readonly host?: string;
  /**
   * The API key the dashboard (and any other client) must present.
   * @defaultValue a random 32-hex-digit key
   */
  readonly apiKey?: string;
  /**
   * How long the dashboard's stream tokens last (`GET /api/dashboard-token`). The dashboard asks for a new
   * one before each connection, and the stream closes a connection whose token expires (close code 4440).
   * @defaultValue `300000` (5 minutes)
   */
  readonly tokenTtlMs?: number;
  /**
   * Subscribe to this Redis instead of an in-process bus. The sentinel then does not run in the app:
   * start it with `npm run sentinel`.
   */
  readonly redisUrl?: string;
  /**
   * Settings for the sentinel that runs in the app when there is no `redisUrl` (e.g. `intervalMs`,
   * `thresholds`), or `false` to run none.
   * @defaultValue `{}`: defaults, one sample per second
   */
  readonly sentinel?: Omit<SentinelOptions, 'publisher' | 'redis' | 'channel'> | false;
  /**
   * A pino-compatible logger for the stream and the sentinel.
   * @defaultValue silent
   */
  readonly logger?: Logger;
  /**
   * More options for the stream, e.g. `staleFloorMs` (the example sets Redis, the API key and the logger).
   * @defaultValue `{}`
   */
  readonly stream?: Omit<SystemStreamOptions, 'redis' | 'apiKeys' | 'logger'>;
}

/** A running example, returned by {@link startExample}. */
export interface Example {
  /** The app's base URL, e.g. `http://127.0.0.1:3000/`. */
  readonly url: string;
  /**
   * The dashboard's sign-in link: the API key in the fragment (never sent in a URL, so never in logs). The
   * page trades it once for a session cookie, removes it from the address bar, and connects with
   * short-lived tokens from `GET /api/dashboard-token`.
   */
  readonly dashboardUrl: string;
  readonly apiKey: string;
  readonly port: number;
  /** Where the messages travel. */
  readonly transport: 'in-process' | 'redis';
  /**
   * A publisher on the same bus or Redis channel the stream reads, e.g. to announce a deploy. Opened on
   * first use; closed by `close()`.
   */
  readonly publisher: SystemPublisher;
  /** The stream's counters (see `SystemStream.stats()`). */
  stats(): SystemStreamStats;
  /** Stops the sentinel, closes dashboards with 1001, then the HTTP server. Idempotent. */
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
/** The package root, found the way a user's app finds an installed package. */
const PACKAGE_ROOT = dirname(require.resolve('system-stream/package.json'));
const PUBLIC_DIR = join(PACKAGE_ROOT, 'example', 'public');
const UPLOT_DIR = join(dirname(require.resolve('uplot/package.json')), 'dist');
const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Starts the example app; resolves once it listens. */
export async function startExample(options: ExampleOptions = {}): Promise<Example> {
  const { port = 3000, host = '127.0.0.1', apiKey = randomBytes(16).toString('hex'), redisUrl, logger = noopLogger } = options;

  // First, so that a missing build fails before anything is started: the page loads the browser client
  // from the stream's router (GET /api/system/client.js), which serves this one-file build.
  const clientModule = join(PACKAGE_ROOT, 'dist', 'system-stream-client.js');
  if (!existsSync(clientModule)) throw new Error(`${clientModule} is missing: run \`npm run compile\` first`);

  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });

  // The app's own API, which was here before the dashboard.
  const startedAt = Date.now();
  app.get('/api/health', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) });
  });
  app.get('/api/info', (_req, res) => {
    res.json({ name: 'system-stream example', version: VERSION, hostname: hostname(), node: process.version });
  });

  const server = createServer(app);
  // One bus for everything in this process when there is no Redis: the stream subscribes on it, the
  // sentinel and `publisher` publish on it.
  const bus = redisUrl === undefined ? createInProcessBus() : undefined;
  // Machines use the API key; the dashboard, tokens that this app signs (any backend holding the secret could).
  const tokenSecret = randomBytes(32);
  const stream = attachSystemStream(server, {
    ...options.stream,
    redis: bus ?? (redisUrl as string),
    apiKeys: [apiKey],
    jwt: { secret: tokenSecret },
    logger,
  });
  mountDashboardAuth(app, apiKey, tokenSecret, options.tokenTtlMs ?? 300_000);
  app.use('/api/system', stream.router()); // also GET /api/system/client.js, the browser client as one ES module
  app.use('/api', (_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  // The dashboard: the page and uPlot, served from this machine (the client comes from the router above).
  app.use('/vendor/uplot', serveFiles(UPLOT_DIR, new Set(['/uPlot.esm.js', '/uPlot.min.css'])));
  app.use(express.static(PUBLIC_DIR));

  let publisher: SystemPublisher | undefined;
  const getPublisher = (): SystemPublisher => (publisher ??= createSystemPublisher({ redis: bus ?? (redisUrl as string), logger }));
  try {
    // The bus delivers only to subscribers that exist when a message is published: subscribe first.
    // Redis may be down at start; then the app serves anyway and dashboards show "degraded" until it is up.
    if (bus) await stream.ready;
    server.listen(port, host);
    await once(server, 'listening');
  } catch (err) {
    await Promise.all([stream.close(), publisher?.close()]);
    throw err;
  }
  const sentinel: Sentinel | undefined =
    bus && options.sentinel !== false ? startSentinel({ ...options.sentinel, publisher: getPublisher(), logger }) : undefined;
  const address = server.address() as { port: number };
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`;

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    await sentinel?.stop();
    await stream.close(); // dashboards get 1001 and start reconnecting
    const closed = once(server, 'close');
    server.close();
    server.closeAllConnections(); // keep-alive HTTP connections would hold the port
    await closed;
    await publisher?.close();
  };

  return {
    url,
    dashboardUrl: `${url}#key=${encodeURIComponent(apiKey)}`,
    apiKey,
    port: address.port,
    transport: bus ? 'in-process' : 'redis',
    get publisher() {
      return getPublisher();
    },
    stats: () => stream.stats(),
    close: () => (closing ??= close()),
  };
}

/**
 * The app's own sign-in for the dashboard, and the route that gives a signed-in page short-lived stream
 * tokens. `POST /api/session` with the API key in `x-api-key` sets an HttpOnly session cookie (signed with a
 * key derived from the API key, so it survives a restart); `GET /api/dashboard-token` answers a request with
 * that cookie with `{ token, expiresAt }`: a JWT whose `exp` is `ttlMs` away. The page never keeps the key.
 */
function mountDashboardAuth(app: express.Express, apiKey: string, tokenSecret: Uint8Array, ttlMs: number): void {
  const SESSION_HOURS = 12;
  const sessionKey = createHash('sha256').update(`system-stream example session\0${apiKey}`).digest();
  const sign = (expiresAt: string): string => createHmac('sha256', sessionKey).update(expiresAt).digest('base64url');
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  const hasSession = (req: Request): boolean => {
    const cookie = /(?:^|;\s*)dashboard_session=(\d+)\.([\w-]+)/.exec(req.headers.cookie ?? '');
    if (!cookie) return false;
    const [, expiresAt = '', mac = ''] = cookie;
    return Number(expiresAt) * 1000 > Date.now() && timingSafeEqual(digest(mac), digest(sign(expiresAt)));
  };
  app.post('/api/session', (req, res) => {
    const presented = req.headers['x-api-key'];
    if (typeof presented !== 'string' || !timingSafeEqual(digest(presented), digest(apiKey))) {
      res.status(401).json({ error: 'unauthorized' });
      return;
    }
    const expiresAt = String(Math.floor(Date.now() / 1000) + SESSION_HOURS * 3600);
    const cookie = `dashboard_session=${expiresAt}.${sign(expiresAt)}; HttpOnly; SameSite=Strict; Path=/api; Max-Age=${SESSION_HOURS * 3600}`;
    res.setHeader('Set-Cookie', cookie).status(204).end();
  });
  app.get('/api/dashboard-token', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    if (!hasSession(req)) {
      res.status(401).json({ error: 'sign in first' });
      return;
    }
    const expiresAtMs = Date.now() + ttlMs;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('dashboard')
      .setExpirationTime(Math.floor(expiresAtMs / 1000))
      .sign(tokenSecret);
    res.json({ token, expiresAt: new Date(Math.floor(expiresAtMs / 1000) * 1000).toISOString() });
  });
}

/** Serves exactly `files` (paths relative to `dir`, with a leading `/`) from `dir`; everything else falls through. */
function serveFiles(dir: string, files: ReadonlySet<string>): RequestHandler {
  const serve = express.static(dir, { index: false, fallthrough: true });
  return (req, res, next) => (files.has(req.path) ? serve(req, res, next) : next());
}

/** Logs info and above to the console, one line each; the stream never logs secrets. */
const consoleLogger: Logger = {
  debug() {},
  info: (obj, msg) => console.log(line('info', obj, msg)),
  warn: (obj, msg) => console.warn(line('warn', obj, msg)),
  error: (obj, msg) => console.error(line('error', obj, msg)),
};

function line(level: string, obj: object, msg?: string): string {
  const fields = Object.keys(obj).length > 0 ? ` ${JSON.stringify(obj)}` : '';
  return `${new Date().toISOString()} ${level.padEnd(5)} ${msg ?? ''}${fields}`;
}

async function main(): Promise<void> {
  const rawPort = process.env['PORT'] ?? '3000';
  const port = /^\d+$/.test(rawPort) ? Number(rawPort) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    console.error(`PORT must be a port number from 0 to 65535, got ${JSON.stringify(rawPort)}`);
    process.exit(2);
  }
  const apiKey = process.env['API_KEY'] || undefined;
  const redisUrl = process.env['REDIS_URL'] || undefined;

  let example: Example;
  try {
    example = await startExample({ port, apiKey, redisUrl, host: process.env['HOST'] || '127.0.0.1', logger: consoleLogger });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    console.error(code === 'EADDRINUSE' ? `Port ${port} is in use: set PORT to another port (PORT=0 picks a free one).` : err);
    process.exit(1);
  }

  const transport =
    example.transport === 'redis'
      ? 'Redis (REDIS_URL). Start the sentinel in another terminal: npm run sentinel'
      : 'in-process bus; the sentinel samples this host inside the app (set REDIS_URL to use Redis)';
  console.log(
    [
      '',
      `  System dashboard  ${example.dashboardUrl}`,
      `  API key           ${example.apiKey}${apiKey ? '' : '  (generated; set API_KEY to choose one)'}`,
      `  Messages          ${transport}`,
      `  App routes        ${example.url}api/health  ${example.url}api/system/health`,
      '',
      '  Stop with Ctrl+C',
      '',
    ].join('\n'),
  );

  const stop = (signal: NodeJS.Signals): void => {
    console.log(`${signal}: stopping`);
    // A second signal while stopping ends the process at once.
    process.once('SIGINT', () => process.exit(1));
    process.once('SIGTERM', () => process.exit(1));
    example.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
