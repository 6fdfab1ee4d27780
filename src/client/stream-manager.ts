// StreamManager: the client of the stream, for browsers and Node. Browser-safe: its only value imports are
// the wire format, the close codes and this folder, and it uses globalThis.WebSocket unless given another one.
import { isTerminalCloseCode } from '../close-codes.js';
import {
  ENVELOPE_TYPES,
  envelopeKey,
  keyProtocol,
  parsePacket,
  PROTOCOL_V1,
  type AlertMessage,
  type ContainerStatusMessage,
  type Envelope,
  type EnvelopeType,
  type ServerPacket,
  type SystemMetricMessage,
} from '../protocol.js';
import { backoffDelay } from './backoff.js';
import { ResumeTracker } from './resume.js';
import type {
  FetchLike,
  StreamManagerEventMap,
  StreamManagerOptions,
  StreamManagerTimers,
  StreamObserver,
  StreamState,
  StreamStatus,
  StreamSubscription,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';

// The socket with the handlers the manager sets; both the browser's WebSocket and ws's have them.
interface Socket extends WebSocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

const CLOSED = 3;
const ENVELOPE = '';

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

/**
 * Receives the system stream over a WebSocket and keeps it running: reconnects with backoff after a drop
 * (2 s, 5 s, 10 s, 30 s, 30 s, … by default, ±10 % jitter), reports its connection state, passes on
 * typed envelopes, and keeps the latest envelope of every key.
 *
 * The API key travels in the `system-stream.key.…` subprotocol (never in the URL, where proxies log it).
 * A refused handshake reaches a browser only as close code 1006, without the HTTP status, so after a
 * handshake that failed before the socket opened the manager asks the stream's snapshot endpoint once
 * (`authCheckUrl`, a HEAD request with the key in `x-api-key`): 401, 403 or 400 there stop the manager
 * (`closed` with code 4401, 4403 or 4400); anything else (the server is down or full) is retried. In Node,
 * `ws` reports the handshake's status itself. Close codes 4400, 4401 and 4403 stop the manager; every
 * other close is retried.
 *
 * It is observable-compatible: `subscribe()` and `'@@observable'` (plus `[Symbol.observable]` where a
 * polyfill defines it) let RxJS users write `from(manager)` to get every envelope received; it is also
 * async-iterable (`for await (const envelope of manager)`).
 * @public
 */
export class StreamManager {
  readonly #url: string;
  readonly #protocols: string[];
  readonly #authCheckUrl: string | null;
  readonly #apiKey: string | undefined;
  readonly #fetch: FetchLike | undefined;
  readonly #connectTimeoutMs: number;
  readonly #backoffMs: readonly number[];
  readonly #jitter: number;
  readonly #stableAfterMs: number;
  readonly #idleTimeoutMs: number;
  readonly #WebSocket: WebSocketConstructor;
  readonly #random: () => number;
  readonly #timers: StreamManagerTimers;
  readonly #listeners = new Map<string, Set<(value: never) => void>>();
  readonly #latest = new Map<string, Envelope>();
  readonly #resume: ResumeTracker;
  #status: StreamStatus = { state: 'closed' };
  #socket: Socket | null = null;
  #retry: { readonly handle: unknown } | null = null;
  #idleCheck: { readonly handle: unknown } | null = null;
  #connectTimer: { readonly handle: unknown } | null = null;
  /** Envelopes of the snapshot being received; `null` once its `snapshot_end` has arrived. */
  #snapshot: Envelope[] | null = null;
  #lastFrameAt = 0;
  #closing: Promise<void> = Promise.resolve();
  #attempt = 0;
  #openedAt: number | undefined;
  #error: string | undefined;

  /** Checks the options and throws `TypeError` for a bad one; does not connect until {@link StreamManager.connect}. */
  constructor(options: StreamManagerOptions) {
    const {
      apiKey,
      types,
      backoffMs = [2000, 5000, 10000, 30000],
      jitter = 0.1,
      stableAfterMs = 5000,
      idleTimeoutMs = 75_000,
      connectTimeoutMs = 10_000,
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

    this.#url = url.href;
    this.#protocols = apiKey === undefined ? [PROTOCOL_V1] : [PROTOCOL_V1, keyProtocol(apiKey)];
    this.#apiKey = apiKey;
    this.#authCheckUrl = options.authCheckUrl === false ? null : toHttpUrl(options.authCheckUrl ?? 'snapshot', url);
    this.#fetch = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis);
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#backoffMs = [...backoffMs];
    this.#jitter = jitter;
    this.#stableAfterMs = stableAfterMs;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#WebSocket = WebSocket as WebSocketConstructor;
    this.#random = options.random ?? Math.random;
    this.#timers = options.timers ?? defaultTimers;
    this.#resume = new ResumeTracker(historyMs, resume, () => this.#timers.now());
    // Set per instance, so a Symbol.observable polyfill loaded after this module still counts.
    const observable = (Symbol as { observable?: symbol }).observable;
    if (observable) (this as unknown as Record<symbol, () => this>)[observable] = () => this;
  }

  /** The current connection state. */
  get state(): StreamState {
    return this.#status.state;
  }

  /** The current connection state with its details, e.g. when the next attempt starts. */
  get status(): StreamStatus {
    return this.#status;
  }

  /**
   * Opens the connection when `closed`. While `reconnecting`, attempts at once instead of waiting.
   * Does nothing while `connecting`, `open` or `degraded`.
   */
  connect(): void {
    const { state } = this.#status;
    if (state === 'reconnecting') {
      this.#cancelRetry();
      this.#open();
    } else if (state === 'closed') {
      this.#attempt = 0;
      this.#open();
    }
  }

  /**
   * Stops everything: cancels a pending reconnect and closes the socket with 1000. The state becomes
   * `closed` at once; the promise resolves once the socket has closed. Safe to call more than once;
   * `connect()` starts again.
   */
  close(): Promise<void> {
    this.#cancelRetry();
    this.#stopIdleCheck();
    this.#stopConnectTimer();
    const socket = this.#socket;
    this.#socket = null;
    if (this.#status.state !== 'closed') this.#setStatus({ state: 'closed', reason: 'closed by the client' });
    if (socket && socket.readyState !== CLOSED) {
      this.#closing = new Promise((resolve) => {
        socket.onclose = () => resolve();
      });
      socket.close(1000);
    }
    return this.#closing;
  }

  /**
   * The latest envelope of every key (see `envelopeKey`), as a new map. The server's snapshot replaces
   * the contents on every connection; live envelopes update them; a `resolved` alert removes its series'
   * alert. While reconnecting, the values of the last connection stay.
   */
  latest(): Map<string, Envelope> {
    return new Map(this.#latest);
  }

  /**
   * Calls `listener` on every `event`; returns a function that removes it. Envelope listeners also receive
   * the envelopes a connection starts with (the snapshot, and the history backfilled with it): with
   * `resume` (the default) only those not passed on before, so each value reaches them once; with
   * `resume: false` the whole snapshot again after every reconnect.
   */
  on<K extends keyof StreamManagerEventMap>(event: K, listener: (value: StreamManagerEventMap[K]) => void): () => void {
    let listeners = this.#listeners.get(event);
    if (!listeners) this.#listeners.set(event, (listeners = new Set()));
    const set = listeners;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /**
   * Passes every envelope received (snapshot and live) to `observer` until it unsubscribes.
   * Never errors or completes; follow the `state` event for connection trouble.
   */
  subscribe(observer?: StreamObserver | ((envelope: Envelope) => void) | null): StreamSubscription {
    const off = this.on(ENVELOPE as 'alert', (envelope: Envelope) => {
      if (typeof observer === 'function') observer(envelope);
      else observer?.next?.(envelope);
    });
    return { unsubscribe: off };
  }

  /** Interop with RxJS and other libraries that read `'@@observable'` (and `Symbol.observable`, where it exists). */
  '@@observable'(): this {
    return this;
  }

  /**
   * Iterates over the envelopes received from now on (snapshot and live), buffering those not read yet.
   * Ends only when the loop is left (`break`, `return` or a throw), which unsubscribes.
   *
   * It also makes RxJS's `from(manager)` typecheck as `Observable<Envelope>` with no global
   * `Symbol.observable` declaration; at run time RxJS still takes the `'@@observable'` path.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Envelope> {
    const buffered: Envelope[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const subscription = this.subscribe((envelope) => {
      buffered.push(envelope);
      wake?.();
    });
    const iterator: AsyncIterableIterator<Envelope> = {
      async next() {
        while (!done && buffered.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        return done ? { done: true, value: undefined } : { done: false, value: buffered.shift() as Envelope };
      },
      async return() {
        done = true;
        buffered.length = 0;
        subscription.unsubscribe();
        wake?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  #open(): void {
    let socket: Socket;
    try {
      socket = new this.#WebSocket(this.#resume.url(this.#url), this.#protocols) as Socket;
    } catch (error) {
      // The constructor throws only for what a retry cannot fix, such as a port the browser blocks.
      this.#setStatus({ state: 'closed', reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    this.#socket = socket;
    this.#openedAt = undefined;
    this.#error = undefined;
    this.#snapshot = [];
    this.#startConnectTimer(socket);
    socket.onopen = () => {
      if (socket !== this.#socket) return;
      this.#stopConnectTimer();
      this.#openedAt = this.#lastFrameAt = this.#timers.now();
      this.#scheduleIdleCheck(socket, this.#idleTimeoutMs);
      this.#setStatus({ state: 'open' });
    };
    socket.onmessage = (event) => {
      if (socket === this.#socket) this.#lastFrameAt = this.#timers.now();
      if (typeof event.data === 'string') this.#receive(socket, event.data);
    };
    // Always set, even on a socket being closed: ws throws an 'error' that nobody listens to.
    socket.onerror = (event) => {
      // Browsers give no detail, not even a refused handshake's HTTP status; ws says e.g. "Unexpected server response: 401".
      const message = event?.message;
      if (socket === this.#socket && typeof message === 'string' && message) this.#error = message;
    };
    socket.onclose = (event) => {
      if (socket === this.#socket) this.#dropped(event.code, event.reason || this.#error);
    };
    // After the socket is set, so that a state listener calling close() closes it.
    this.#setStatus(this.#attempt > 0 ? { state: 'connecting', attempt: this.#attempt } : { state: 'connecting' });
  }

  #dropped(code: number, detail: string | undefined): void {
    this.#socket = null;
    this.#stopIdleCheck();
    this.#stopConnectTimer();
    const neverOpened = this.#openedAt === undefined;
    // ws (Node) reports a refused handshake's status in its error message; browsers do not.
    const refusedStatus = neverOpened ? /Unexpected server response: (40[013])\b/.exec(detail ?? '')?.[1] : undefined;
    if (refusedStatus !== undefined) code = 4000 + Number(refusedStatus);
    const reason = `closed with ${code}${detail ? `: ${detail}` : ''}`;
    if (isTerminalCloseCode(code)) {
      this.#setStatus({ state: 'closed', code, reason });
      return;
    }
    const now = this.#timers.now();
    // The reset rule, measured when the socket closes so that no timer runs while it is open: a
    // connection that stayed open `stableAfterMs` was healthy, so the schedule starts again at its
    // first wait. A flapping server (or a refused handshake, never open) keeps climbing to the last wait.
    if (this.#openedAt !== undefined && now - this.#openedAt >= this.#stableAfterMs) this.#attempt = 0;
    const attempt = ++this.#attempt;
    const delay = backoffDelay(attempt, this.#backoffMs, this.#jitter, this.#random);
    const handle = this.#timers.setTimeout(() => {
      this.#retry = null;
      this.#open();
    }, delay);
    this.#retry = { handle };
    this.#setStatus({ state: 'reconnecting', attempt, nextAttemptAt: now + delay, code, reason });
    if (neverOpened) this.#checkRefusal(this.#retry);
  }

  /**
   * A browser cannot see why a handshake failed. Asks the snapshot endpoint, which answers in plain HTTP
   * with the same authentication: a refusal there stops the manager; anything else leaves the retry be.
   */
  #checkRefusal(retry: { readonly handle: unknown }): void {
    if (this.#authCheckUrl === null || this.#fetch === undefined) return;
    const headers: Record<string, string> = this.#apiKey === undefined ? {} : { 'x-api-key': this.#apiKey };
    this.#fetch(this.#authCheckUrl, { method: 'HEAD', headers, cache: 'no-store', credentials: 'same-origin' }).then(
      (response) => {
        const { status } = response;
        // Still waiting on the same retry: not closed, reconnected or given up in the meantime.
        if (this.#retry !== retry || (status !== 400 && status !== 401 && status !== 403)) return;
        this.#cancelRetry();
        this.#setStatus({ state: 'closed', code: 4000 + status, reason: `the server refused the handshake: HTTP ${status}` });
      },
      () => {}, // the server is down: the retry goes on
    );
  }

  #startConnectTimer(socket: Socket): void {
    if (this.#connectTimeoutMs === 0) return;
    const handle = this.#timers.setTimeout(() => {
      this.#connectTimer = null;
      if (socket !== this.#socket) return;
      // A server that accepts TCP but never answers the upgrade: give the attempt up and retry.
      socket.onclose = null;
      socket.onmessage = null;
      socket.onopen = null;
      socket.close();
      this.#dropped(1006, `no handshake answer within ${Math.round(this.#connectTimeoutMs / 1000)} s`);
    }, this.#connectTimeoutMs);
    this.#connectTimer = { handle };
  }

  #stopConnectTimer(): void {
    if (this.#connectTimer) this.#timers.clearTimeout(this.#connectTimer.handle);
    this.#connectTimer = null;
  }

  #receive(socket: Socket, text: string): void {
    if (socket !== this.#socket) return; // a frame after close(), or on a socket given up
    let packet: ServerPacket;
    try {
      packet = parsePacket(text);
    } catch {
      return; // not one JSON object: nothing to use
    }
    if (ENVELOPE_TYPES.includes(packet.type as EnvelopeType)) {
      const envelope = packet as Envelope;
      if (this.#snapshot !== null) {
        this.#snapshot.push(envelope); // held until snapshot_end, then applied at once
      } else if (this.#resume.accept(envelope)) {
        this.#store(envelope);
        this.#deliver(envelope);
      }
    } else if (packet.type === 'snapshot_end') {
      const envelopes = this.#snapshot ?? [];
      this.#snapshot = null;
      this.#latest.clear();
      for (const envelope of envelopes) this.#store(envelope);
      this.#emit('snapshot', envelopes);
      for (const envelope of envelopes.filter((e) => this.#resume.accept(e))) {
        if (socket !== this.#socket) return; // closed by a listener
        this.#deliver(envelope);
      }
    } else if (packet.type === 'error') {
      if (this.#status.state === 'open') this.#setStatus({ state: 'degraded', reason: packet.data.reason });
    } else if (packet.type === 'status') {
      if (this.#status.state === 'degraded') this.#setStatus({ state: 'open' });
    }
    // `heartbeat` is only proof of life (#lastFrameAt is already updated); unknown types are ignored.
  }

  #store(envelope: Envelope): void {
    const key = envelopeKey(envelope);
    this.#latest.delete(key); // re-insert at the end: map order is recency order, as on the server
    if (envelope.type !== 'alert' || envelope.data.level !== 'resolved') this.#latest.set(key, envelope);
  }

  #deliver(envelope: Envelope): void {
    this.#emit(envelope.type, envelope);
    this.#emit(ENVELOPE, envelope);
  }

  #setStatus(status: StreamStatus): void {
    this.#status = status;
    this.#emit('state', status);
  }

  #emit(event: string, value: unknown): void {
    const listeners = this.#listeners.get(event);
    if (!listeners) return;
    for (const listener of [...listeners]) {
      try {
        (listener as (value: unknown) => void)(value);
      } catch (error) {
        // One failing listener must not starve the others or break the manager; report it like an uncaught error.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /**
   * One timer per open connection, not reset by every frame: when it fires it compares the time of the
   * last frame with the limit and either schedules itself for the remainder or gives the socket up.
   */
  #scheduleIdleCheck(socket: Socket, ms: number): void {
    if (this.#idleTimeoutMs === 0) return;
    const handle = this.#timers.setTimeout(() => {
      this.#idleCheck = null;
      if (socket !== this.#socket) return;
      const silentMs = this.#timers.now() - this.#lastFrameAt;
      if (silentMs < this.#idleTimeoutMs) {
        this.#scheduleIdleCheck(socket, this.#idleTimeoutMs - silentMs);
        return;
      }
      // Its close handshake may never complete on a dead link: stop listening to it and reconnect now.
      socket.onclose = null;
      socket.onmessage = null;
      socket.close();
      this.#dropped(1006, `no data for ${Math.round(silentMs / 1000)} s`);
    }, ms);
    this.#idleCheck = { handle };
  }

  #stopIdleCheck(): void {
    if (this.#idleCheck) this.#timers.clearTimeout(this.#idleCheck.handle);
    this.#idleCheck = null;
  }

  #cancelRetry(): void {
    if (this.#retry) this.#timers.clearTimeout(this.#retry.handle);
    this.#retry = null;
  }
}
