// StreamManager's options: checked once, with the server's option kit (the same rules, messages and timer
// bounds as attachSystemStream: unknown names refused with "did you mean", durations in whole milliseconds
// up to 2^31 - 1), with the defaults applied and the URLs derived; the manager and its parts then read only
// the resolved settings. Also the browser defaults (the page's visibility, the network, the timers).
// Browser-safe: the kit and the errors it throws import no Node module.
import { ENVELOPE_TYPES, keyProtocol, PROTOCOL_V1 } from '../protocol/wire.js';
import { describeValue, invalidOption } from '../shared/errors.js';
import {
  booleanOption,
  functionOption,
  integerMs,
  MAX_TIMER_MS,
  nonEmptyString,
  numberOption,
  optionsObject,
  type OptionNames,
} from '../shared/option-kit.js';
import type { StreamManagerOptions } from './types.js';
import type { FetchLike, NetworkSource, StreamManagerTimers, VisibilitySource, WebSocketConstructor } from './environment.js';

/** {@link StreamManagerOptions} after checks and defaults. */
export interface ResolvedOptions {
  /** The WebSocket URL, with `types` in its query. */
  readonly url: string;
  /** The subprotocols to offer: the wire format's, then the one carrying the key. */
  readonly protocols: string[];
  /** The key when `apiKey` is a string. */
  readonly apiKey: string | undefined;
  /** `apiKey` when it is a function: asked for a key before every attempt. */
  readonly apiKeyProvider: (() => string | PromiseLike<string>) | undefined;
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

/** Every option StreamManager takes: anything else is refused as a typo (`apikey` would send no key at all). */
const KNOWN: OptionNames<StreamManagerOptions> = {
  url: true,
  apiKey: true,
  types: true,
  backoffMs: true,
  jitter: true,
  stableAfterMs: true,
  idleTimeoutMs: true,
  connectTimeoutMs: true,
  authCheckUrl: true,
  fetch: true,
  historyMs: true,
  resume: true,
  WebSocket: true,
  random: true,
  timers: true,
  shareAcrossTabs: true,
  hiddenTimeoutMs: true,
  resumeJitterMs: true,
  visibility: true,
  network: true,
};

const DEFAULTS = {
  backoffMs: [2000, 5000, 10000, 30000],
  jitter: 0.1,
  stableAfterMs: 5000,
  idleTimeoutMs: 75_000,
  connectTimeoutMs: 10_000,
  shareAcrossTabs: false,
  hiddenTimeoutMs: 300_000,
  resumeJitterMs: 1000,
  historyMs: 0,
  resume: true,
} as const;

/** A non-empty list of waits, each a duration the timers accept (the rule of `integerMs`). */
function backoffOption(value: readonly number[]): number[] {
  const expected = `a non-empty array of integers from 0 to ${MAX_TIMER_MS} (milliseconds)`;
  if (!Array.isArray(value) || value.length === 0)
    throw invalidOption(`Expected \`backoffMs\` to be ${expected}, got ${describeValue(value)}`);
  const bad = value.findIndex((ms) => !(Number.isInteger(ms) && ms >= 0 && ms <= MAX_TIMER_MS));
  if (bad >= 0) throw invalidOption(`Expected \`backoffMs\` to be ${expected}, got ${describeValue(value[bad])} at index ${bad}`);
  return [...value];
}

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

/** `input` as a ws: or wss: URL, resolved against the page in a browser; throws `SST_ERR_INVALID_OPTION` otherwise. */
function toWebSocketUrl(input: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(input, (globalThis as { location?: { href: string } }).location?.href);
    url.protocol = url.protocol.replace(/^http/, 'ws');
  } catch {
    // not a URL: reported below
  }
  if (url?.protocol !== 'ws:' && url?.protocol !== 'wss:') {
    throw invalidOption(`Expected \`url\` to be a ws:, wss:, http: or https: URL, got ${describeValue(input)}`);
  }
  return url;
}

/**
 * Checks the options and throws `SystemStreamError` `SST_ERR_INVALID_OPTION` for the first bad one, as
 * attachSystemStream does; applies the defaults (an option set to `undefined` takes its default).
 */
export function resolveOptions(input: StreamManagerOptions): ResolvedOptions {
  const options = optionsObject(input, KNOWN, 'StreamManager');
  const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WebSocket !== 'function') {
    throw invalidOption(
      `Expected \`WebSocket\` to be a WebSocket class (on Node 20, pass WebSocket from the ws package), got ${describeValue(WebSocket)}`,
    );
  }
  const backoffMs = backoffOption(options.backoffMs ?? DEFAULTS.backoffMs);
  const jitter = numberOption('jitter', options.jitter ?? DEFAULTS.jitter, { min: 0, max: 1 });
  const stableAfterMs = integerMs('stableAfterMs', options.stableAfterMs ?? DEFAULTS.stableAfterMs, { min: 0 });
  const idleTimeoutMs = integerMs('idleTimeoutMs', options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs, { min: 0 });
  const connectTimeoutMs = integerMs('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs, { min: 0 });
  const hiddenTimeoutMs = integerMs('hiddenTimeoutMs', options.hiddenTimeoutMs ?? DEFAULTS.hiddenTimeoutMs, { min: 0 });
  const resumeJitterMs = integerMs('resumeJitterMs', options.resumeJitterMs ?? DEFAULTS.resumeJitterMs, { min: 0 });
  const shareAcrossTabs = booleanOption('shareAcrossTabs', options.shareAcrossTabs, DEFAULTS.shareAcrossTabs);
  const historyMs = integerMs('historyMs', options.historyMs ?? DEFAULTS.historyMs, { min: 0 });
  const resume = booleanOption('resume', options.resume, DEFAULTS.resume);
  // Never in a message: a key is a secret (nonEmptyString names only the kind of a wrong value).
  const apiKeyProvider = typeof options.apiKey === 'function' ? options.apiKey : undefined;
  const apiKey = options.apiKey === undefined || apiKeyProvider ? undefined : nonEmptyString('apiKey', options.apiKey);
  const { types } = options;
  if (types !== undefined && !(Array.isArray(types) && types.length > 0 && types.every((t) => ENVELOPE_TYPES.includes(t)))) {
    throw invalidOption(`Expected \`types\` to be a non-empty array of ${ENVELOPE_TYPES.join(', ')}, got ${describeValue(types)}`);
  }
  const { authCheckUrl } = options;
  if (authCheckUrl !== undefined && authCheckUrl !== false && (typeof authCheckUrl !== 'string' || authCheckUrl === '')) {
    throw invalidOption(`Expected \`authCheckUrl\` to be a URL or false, got ${describeValue(authCheckUrl)}`);
  }
  const fetch = functionOption('fetch', options.fetch);
  const random = functionOption('random', options.random);
  // `timers`, `visibility` and `network` stand in for the browser's in tests; their types say what they need.
  const { timers, visibility, network } = options;

  const url = toWebSocketUrl(options.url);
  if (types !== undefined) url.searchParams.set('types', types.join(','));

  return {
    url: url.href,
    protocols: apiKey === undefined ? [PROTOCOL_V1] : [PROTOCOL_V1, keyProtocol(apiKey)],
    apiKey,
    apiKeyProvider,
    authCheckUrl: authCheckUrl === false ? null : toHttpUrl(authCheckUrl ?? 'snapshot', url),
    fetch: fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis),
    connectTimeoutMs,
    historyMs,
    resume,
    backoffMs,
    jitter,
    stableAfterMs,
    idleTimeoutMs,
    WebSocket,
    random: random ?? Math.random,
    timers: timers ?? defaultTimers,
    shareAcrossTabs,
    hiddenTimeoutMs,
    resumeJitterMs,
    visibility: visibility ?? defaultVisibility(),
    network: network ?? defaultNetwork(),
  };
}
