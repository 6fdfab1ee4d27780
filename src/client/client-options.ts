// StreamManager's options: checked once, in the order the constructor has always checked them, with
// the defaults applied and the URLs derived; the manager and its parts then read only the resolved
// settings. Also the browser defaults (the page's visibility, the network, the timers). Browser-safe.
import { ENVELOPE_TYPES, keyProtocol, PROTOCOL_V1 } from '../protocol/wire.js';
import type {
  FetchLike,
  NetworkSource,
  StreamManagerOptions,
  StreamManagerTimers,
  VisibilitySource,
  WebSocketConstructor,
} from './types.js';

/** {@link StreamManagerOptions} after checks and defaults. */
export interface ResolvedOptions {
  /** The WebSocket URL, with `types` in its query. */
  readonly url: string;
  /** The subprotocols to offer: the wire format's, then the one carrying the key. */
  readonly protocols: string[];
  readonly apiKey: string | undefined;
  /** Where to ask why a handshake failed; `null` when `authCheckUrl` is `false`. */
  readonly authCheckUrl: string | null;
  readonly fetch: FetchLike | undefined;
  readonly connectTimeoutMs: number;
  /** How much history the first connection asks for (`since`); `0`: none. */
  readonly historyMs: number;
  /** Whether reconnects ask for `since` and each value is passed on once (see resume.ts). */
  readonly resume: boolean;
  readonly backoffMs: readonly number[];
  readonly jitter: number;
  readonly stableAfterMs: number;
  readonly idleTimeoutMs: number;
  readonly WebSocket: WebSocketConstructor;
  readonly random: () => number;
  readonly timers: StreamManagerTimers;
  readonly shareAcrossTabs: boolean;
  readonly hiddenTimeoutMs: number;
  readonly resumeJitterMs: number;
  readonly visibility: VisibilitySource | undefined;
  readonly network: NetworkSource | undefined;
}

const defaultTimers: StreamManagerTimers = {
  // Looked up at call time and called unbound: browsers throw "Illegal invocation" for a setTimeout
  // called as a method of another object.
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as never),
  now: () => Date.now(),
};

function check(ok: boolean, name: string, expected: string, got: unknown): void {
  if (!ok) throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
}

const isNumberIn = (value: unknown, min: number, max = Infinity): boolean =>
  typeof value === 'number' && value >= min && value <= max && Number.isFinite(value);

/** The longest wait timers accept: past it, setTimeout fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/** The page's visibility in a browser; none elsewhere. */
function defaultVisibility(): VisibilitySource | undefined {
  const doc = (globalThis as { document?: Partial<VisibilitySource> }).document;
  return typeof doc?.addEventListener === 'function' && typeof doc.visibilityState === 'string' ? (doc as VisibilitySource) : undefined;
}

/** `navigator.onLine` and the window's `online`/`offline` events in a browser; none elsewhere (Node has no window). */
function defaultNetwork(): NetworkSource | undefined {
  const g = globalThis as { navigator?: { onLine?: boolean }; addEventListener?: unknown };
  if (typeof g.addEventListener !== 'function' || typeof g.navigator?.onLine !== 'boolean') return undefined;
  const events = globalThis as unknown as Pick<NetworkSource, 'addEventListener' | 'removeEventListener'>;
  return {
    get onLine() {
      return g.navigator?.onLine !== false;
    },
    addEventListener: (type, listener) => events.addEventListener(type, listener),
    removeEventListener: (type, listener) => events.removeEventListener(type, listener),
  };
}

/** `input` resolved against the WebSocket URL, as an http: or https: URL without the WebSocket's query but its `types`. */
function toHttpUrl(input: string, wsUrl: URL): string {
  const url = new URL(input, wsUrl);
  url.protocol = url.protocol.replace(/^ws/, 'http');
  if (input === 'snapshot') {
    url.search = '';
    const types = wsUrl.searchParams.get('types');
    if (types !== null) url.searchParams.set('types', types);
  }
  return url.href;
}

/** `input` as a ws: or wss: URL, resolved against the page in a browser; throws `TypeError` otherwise. */
function toWebSocketUrl(input: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(input, (globalThis as { location?: { href: string } }).location?.href);
    url.protocol = url.protocol.replace(/^http/, 'ws');
  } catch {
    // not a URL: reported below
  }
  check(url?.protocol === 'ws:' || url?.protocol === 'wss:', 'url', 'a ws:, wss:, http: or https: URL', input);
  return url as URL;
}

/** Checks the options and throws `TypeError` for the first bad one; applies the defaults. */
export function resolveOptions(options: StreamManagerOptions): ResolvedOptions {
  const {
    apiKey,
    types,
    backoffMs = [2000, 5000, 10000, 30000],
    jitter = 0.1,
    stableAfterMs = 5000,
    idleTimeoutMs = 75_000,
    connectTimeoutMs = 10_000,
    shareAcrossTabs = false,
    hiddenTimeoutMs = 300_000,
    resumeJitterMs = 1000,
    historyMs = 0,
    resume = true,
  } = options;
  const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  check(typeof WebSocket === 'function', 'WebSocket', 'a WebSocket class (on Node 20, pass WebSocket from the ws package)', WebSocket);
  check(
    Array.isArray(backoffMs) && backoffMs.length > 0 && backoffMs.every((ms) => isNumberIn(ms, 0)),
    'backoffMs',
    'a non-empty array of finite numbers >= 0',
    backoffMs,
  );
  check(isNumberIn(jitter, 0, 1), 'jitter', 'a number from 0 to 1', jitter);
  check(isNumberIn(stableAfterMs, 0), 'stableAfterMs', 'a finite number >= 0', stableAfterMs);
  check(isNumberIn(idleTimeoutMs, 0, MAX_TIMER_MS), 'idleTimeoutMs', `a number from 0 to ${MAX_TIMER_MS}`, idleTimeoutMs);
  check(isNumberIn(connectTimeoutMs, 0, MAX_TIMER_MS), 'connectTimeoutMs', `a number from 0 to ${MAX_TIMER_MS}`, connectTimeoutMs);
  check(isNumberIn(hiddenTimeoutMs, 0, MAX_TIMER_MS), 'hiddenTimeoutMs', `a number from 0 to ${MAX_TIMER_MS}`, hiddenTimeoutMs);
  check(isNumberIn(resumeJitterMs, 0, MAX_TIMER_MS), 'resumeJitterMs', `a number from 0 to ${MAX_TIMER_MS}`, resumeJitterMs);
  check(typeof shareAcrossTabs === 'boolean', 'shareAcrossTabs', 'a boolean', shareAcrossTabs);
  check(isNumberIn(historyMs, 0), 'historyMs', 'a finite number >= 0', historyMs);
  check(typeof resume === 'boolean', 'resume', 'a boolean', resume);
  check(apiKey === undefined || (typeof apiKey === 'string' && apiKey.length > 0), 'apiKey', 'a non-empty string', apiKey);
  check(
    types === undefined || (Array.isArray(types) && types.length > 0 && types.every((t) => ENVELOPE_TYPES.includes(t))),
    'types',
    `a non-empty array of ${ENVELOPE_TYPES.join(', ')}`,
    types,
  );

  const url = toWebSocketUrl(options.url);
  if (types !== undefined) url.searchParams.set('types', types.join(','));

  return {
    url: url.href,
    protocols: apiKey === undefined ? [PROTOCOL_V1] : [PROTOCOL_V1, keyProtocol(apiKey)],
    apiKey,
    authCheckUrl: options.authCheckUrl === false ? null : toHttpUrl(options.authCheckUrl ?? 'snapshot', url),
    fetch: options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis),
    connectTimeoutMs,
    historyMs,
    resume,
    backoffMs: [...backoffMs],
    jitter,
    stableAfterMs,
    idleTimeoutMs,
    WebSocket: WebSocket as WebSocketConstructor,
    random: options.random ?? Math.random,
    timers: options.timers ?? defaultTimers,
    shareAcrossTabs,
    hiddenTimeoutMs,
    resumeJitterMs,
    visibility: options.visibility ?? defaultVisibility(),
    network: options.network ?? defaultNetwork(),
  };
}
