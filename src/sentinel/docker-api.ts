// The Docker Engine API over its Unix socket, from Node (no child process): the container list, kept
// current by the daemon's event stream so that a tick sends no request unless a container changed.
// Podman's Docker-compatible socket answers the same requests.
import { existsSync } from 'node:fs';
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';

/** Default socket of the Docker daemon. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * The socket to use: `DOCKER_HOST` when it is a `unix://` URL (a `tcp://` one is not used: the sentinel
 * reads the local daemon only), else `DOCKER_SOCKET` (systeminformation's variable), else {@link DEFAULT_DOCKER_SOCKET}.
 */
export function dockerSocketFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const host = env['DOCKER_HOST'];
  if (host !== undefined && host.startsWith('unix://') && host.length > 'unix://'.length) return host.slice('unix://'.length);
  const socket = env['DOCKER_SOCKET'];
  return socket !== undefined && socket !== '' ? socket : DEFAULT_DOCKER_SOCKET;
}

/** One container as the sentinel reads it: `Names[0]` without its leading `/`, and `State`. */
export interface DockerContainer {
  readonly name: string;
  readonly state: string;
}

/** What the daemon said at the last look. */
export interface DockerView {
  /** `false` when no daemon answered: then `containers` is empty and means nothing. */
  readonly isAvailable: boolean;
  readonly containers: readonly DockerContainer[];
}

const UNAVAILABLE: DockerView = Object.freeze({ isAvailable: false, containers: Object.freeze([]) });
/** Longest wait for the container list; the tick publishes host metrics without containers past it. */
const REQUEST_TIMEOUT_MS = 5000;
/** Longest container list read, in bytes: a daemon with thousands of containers answers in a few MB. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/**
 * Event actions that do not change a container's state or name: exec (health checks run one every
 * few seconds per container), health status, attach, resize, top, copy, export, commit.
 */
const QUIET_ACTIONS = /^(exec_|health_status|attach|detach|resize|top|commit|copy|archive-path|extract-to-dir|export)/;
const EVENTS_PATH = `/events?filters=${encodeURIComponent(JSON.stringify({ type: ['container'] }))}`;

export interface DockerWatcherOptions {
  readonly socketPath: string;
  /** Lists again after this long even without an event (a safety net for a missed event). */
  readonly resyncMs: number;
}

/**
 * Watches the containers of one daemon. {@link DockerWatcher.view} answers from memory while the event
 * stream is open and no container event came since the last list; otherwise it (re)subscribes to the
 * events, then lists the containers (in that order, so that no change falls between the two).
 */
export class DockerWatcher {
  readonly #socketPath: string;
  readonly #resyncMs: number;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });
  #events: ClientRequest | undefined;
  #isEventsOpen = false;
  #isDirty = true;
  #listedAtMs = -Infinity;
  #last: DockerView = UNAVAILABLE;
  #isClosed = false;
  /** The daemon refused the event stream: the list is read at every tick. Reset when the daemon goes away. */
  #isPolling = false;

  constructor(options: DockerWatcherOptions) {
    this.#socketPath = options.socketPath;
    this.#resyncMs = options.resyncMs;
  }

  /** The containers now. Never rejects: a daemon that does not answer is `isAvailable: false`. */
  async view(nowMs: number): Promise<DockerView> {
    if (this.#isClosed) return UNAVAILABLE;
    if (this.#isEventsOpen && !this.#isDirty && nowMs - this.#listedAtMs < this.#resyncMs) return this.#last;
    // One stat() tells "no daemon here" without a connection attempt: the common case on a host without Docker.
    if (!existsSync(this.#socketPath)) return this.#unavailable();
    try {
      if (!this.#isEventsOpen && !this.#isPolling) {
        try {
          await this.#subscribe();
        } catch (err) {
          // A daemon that answers but has no event stream (an API subset): list the containers every tick instead.
          if (!(err instanceof EventsRefused)) throw err;
          this.#isPolling = true;
        }
      }
      this.#isDirty = false;
      const containers = toContainers(await this.#get('/containers/json?all=1'));
      if (containers === null) return this.#unavailable();
      this.#listedAtMs = nowMs;
      this.#last = { isAvailable: true, containers };
      return this.#last;
    } catch {
      return this.#unavailable();
    }
  }

  /** Ends the event stream and the kept-alive connection. Idempotent. */
  close(): void {
    this.#isClosed = true;
    this.#closeEvents();
    this.#agent.destroy();
  }

  #unavailable(): DockerView {
    this.#closeEvents();
    this.#isPolling = false;
    this.#isDirty = true;
    this.#last = UNAVAILABLE;
    return UNAVAILABLE;
  }

  #closeEvents(): void {
    this.#isEventsOpen = false;
    const events = this.#events;
    this.#events = undefined;
    events?.destroy();
  }

  /** Opens the event stream; resolves once the daemon has answered 200 (it is then subscribed). */
  #subscribe(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const req = request({ socketPath: this.#socketPath, path: EVENTS_PATH, method: 'GET', agent: false });
      this.#events = req;
      const timer = setTimeout(() => req.destroy(new Error('Docker events: no answer')), REQUEST_TIMEOUT_MS);
      const lost = (): void => {
        clearTimeout(timer);
        if (this.#events !== req) return;
        // The daemon stopped or restarted: the next tick lists again, or finds it gone.
        this.#isEventsOpen = false;
        this.#isDirty = true;
      };
      req.on('error', (err) => {
        lost();
        reject(err);
      });
      req.on('close', lost);
      req.on('response', (res: IncomingMessage) => {
        clearTimeout(timer);
        if (res.statusCode !== 200) {
          res.resume();
          req.destroy();
          reject(new EventsRefused(`Docker events: HTTP ${res.statusCode}`));
          return;
        }
        this.#isEventsOpen = true;
        res.setEncoding('utf8');
        let pending = '';
        res.on('data', (chunk: string) => {
          pending += chunk;
          let newline: number;
          while ((newline = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, newline);
            pending = pending.slice(newline + 1);
            if (isStateChange(line)) this.#isDirty = true;
          }
          if (pending.length > 65_536) pending = ''; // an event is far smaller; a stream this odd is not read
        });
        res.on('error', lost);
        res.on('end', lost);
        resolve();
      });
      req.end();
    });
  }

  /** GET `path` and its JSON body; rejects on a status other than 2xx, a timeout or a body past the limit. */
  #get(path: string): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const req = request({ socketPath: this.#socketPath, path, method: 'GET', agent: this.#agent, timeout: REQUEST_TIMEOUT_MS });
      req.on('timeout', () => req.destroy(new Error(`Docker API: no answer to GET ${path}`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_BODY_BYTES) req.destroy(new Error('Docker API: answer too large'));
          else chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return reject(new Error(`Docker API: HTTP ${status} for GET ${path}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err as Error);
          }
        });
      });
      req.end();
    });
  }
}

/** The daemon answered the event request with a status other than 200. */
class EventsRefused extends Error {}

/** Whether an event line may change a container's state or name. Unreadable lines count as changes. */
function isStateChange(line: string): boolean {
  if (line.trim() === '') return false;
  try {
    const event = JSON.parse(line) as { Action?: unknown; status?: unknown };
    const action = typeof event.Action === 'string' ? event.Action : typeof event.status === 'string' ? event.status : '';
    return !QUIET_ACTIONS.test(action);
  } catch {
    return true;
  }
}

/**
 * `GET /containers/json?all=1` as `si.dockerContainers(true)` reads it: a container needs a string `Id`;
 * its name is `Names[0]` without the leading `/`. `null` when the answer is not a list.
 */
export function toContainers(body: unknown): DockerContainer[] | null {
  if (!Array.isArray(body)) return null;
  const out: DockerContainer[] = [];
  for (const c of body as { Id?: unknown; Names?: unknown; State?: unknown }[]) {
    if (typeof c !== 'object' || c === null || typeof c.Id !== 'string') continue;
    const first = Array.isArray(c.Names) ? (c.Names[0] as unknown) : undefined;
    if (typeof first !== 'string' || typeof c.State !== 'string') continue;
    out.push({ name: first.replace(/^\/|\/$/g, ''), state: c.State });
  }
  return out;
}
