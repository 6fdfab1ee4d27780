// The client's public types, apart from the class itself. Browser-safe: type imports only. Its length is
// the TSDoc of every option and event.
import type { FetchLike, NetworkSource, StreamManagerTimers, VisibilitySource, WebSocketConstructor } from './environment.js';
import type { AlertMessage, ContainerStatusMessage, Envelope, EnvelopeType, SourceStatus, SystemMetricMessage } from '../protocol/wire.js';

/**
 * The connection state of a {@link StreamManager}.
 *
 * - `connecting`: a socket is being opened (or, with `shareAcrossTabs`, this tab is joining the others).
 * - `open`: the socket is open and live data flows.
 * - `degraded`: the socket is open, but the server reported that it cannot deliver live data (Redis is down).
 * - `reconnecting`: the socket closed; the next attempt starts at `nextAttemptAt`. With `reason: 'offline'`
 *   the browser has no network: there is no `nextAttemptAt`, nothing is counted as a failure, and the
 *   attempt starts as soon as the browser's `online` event fires.
 * - `closed`: nothing runs: before `connect()`, after `close()`, or after a terminal close code. With
 *   `reason: 'hidden'` the page has been hidden for `hiddenTimeoutMs`: the manager closed the connection
 *   itself (a normal close, not a failure) and reconnects by itself when the page is visible again.
 *
 * There are no other states: being offline or hidden is a `reason`, so code that handles the five
 * states keeps working.
 * @public
 */
export type StreamState = 'connecting' | 'open' | 'degraded' | 'reconnecting' | 'closed';

/**
 * A {@link StreamState} with its details, as the `state` event and {@link StreamManager.status} give it.
 * @public
 */
export interface StreamStatus {
  /** The state itself. */
  readonly state: StreamState;
  /** The reconnect attempt, 1 for the first after a drop. Set while `reconnecting`, and while `connecting` on a retry. */
  readonly attempt?: number;
  /** When the next attempt starts, in milliseconds since the epoch (from `timers.now()`). Set while `reconnecting`. */
  readonly nextAttemptAt?: number;
  /**
   * Why: the close code with the server's close reason or the socket error's message where there is one
   * (`reconnecting`, `closed`), the server's reason (`degraded`, e.g. `redis_unavailable`),
   * `closed by the client`, `offline` (`reconnecting` until the network is back), `hidden` (`closed`
   * until the page is visible again), or `visible again` (`reconnecting`, within `resumeJitterMs`).
   */
  readonly reason?: string;
  /**
   * The close code of the socket that closed, for `reconnecting`, for `closed` after a terminal code, and
   * for the `connecting` that follows an expiry (`CloseCode.CredentialsExpired`) when `apiKey` is a function.
   */
  readonly code?: number;
}

/**
 * Options for {@link StreamManager}.
 * @public
 */
export interface StreamManagerOptions {
  /**
   * The stream's WebSocket URL, e.g. `wss://example.com/api/system/ws`. In a browser a relative or
   * `http(s):` URL is resolved against the page and given the `ws(s):` scheme.
   */
  readonly url: string;
  /**
   * The API key or token, sent in the `system-stream.key.…` WebSocket subprotocol (browsers cannot set
   * headers on a WebSocket, and a key in the URL ends up in proxy logs), and as `x-api-key` to `authCheckUrl`.
   *
   * Or a function that returns one (or a promise of one), e.g. `() => fetch('/api/dashboard-token').then((r) => r.text())`:
   * it is called before every connection attempt, so short-lived tokens work. When the server closes the
   * connection because its credentials expired (`CloseCode.CredentialsExpired`, 4440), the manager calls it
   * and reconnects at once, without a backoff wait (if the connection had lasted at least 1 s), resuming
   * with `since` so that no value is missed or passed on twice. A function that throws, rejects, returns
   * no non-empty string or does not answer within `connectTimeoutMs` puts the manager in `reconnecting`
   * with backoff and a `reason` that says so (`the apiKey function failed: …`). With `shareAcrossTabs`,
   * only the tab holding the connection calls it. A key or token the server refuses (HTTP 401) ends the
   * manager in `closed`, as a refused string key does.
   */
  readonly apiKey?: string | (() => string | PromiseLike<string>) | undefined;
  /**
   * Receive only these envelope types (the `types` query parameter).
   * @defaultValue every type
   */
  readonly types?: readonly EnvelopeType[] | undefined;
  /**
   * Waits before reconnect attempts 1, 2, 3, …, in milliseconds; the last one repeats.
   * @defaultValue `[2000, 5000, 10000, 30000]`
   */
  readonly backoffMs?: readonly number[] | undefined;
  /**
   * Spreads each wait uniformly by this fraction either way, so that dashboards do not all return at the
   * same instant after a server restart. `0` makes the waits exact.
   * @defaultValue `0.1`
   */
  readonly jitter?: number | undefined;
  /**
   * A connection that stayed open this long before it closed counts as stable: the next reconnect
   * starts again at the first wait. Shorter-lived connections continue the sequence.
   * @defaultValue `5000`
   */
  readonly stableAfterMs?: number | undefined;
  /**
   * Reconnects when no frame at all (data, or the server's heartbeat packet) has arrived for this long.
   * A connection that died without a close (a dropped network, a laptop waking up) otherwise looks open
   * forever, because browsers cannot see WebSocket pings. Keep it above the server's
   * `heartbeatIntervalMs`; `0` turns the check off.
   * @defaultValue `75000` (2.5 × the server's default heartbeat interval of 30 s)
   */
  readonly idleTimeoutMs?: number | undefined;
  /**
   * Gives up a handshake that has not completed after this long (a server that accepts the TCP connection
   * but never answers the upgrade) and retries with backoff. `0` waits forever.
   * @defaultValue `10000`
   */
  readonly connectTimeoutMs?: number | undefined;
  /**
   * Where to ask, after a handshake that failed before the socket opened, whether the server refuses the
   * key: a `HEAD` request with the key in `x-api-key`; 400, 401 or 403 stop the manager. Relative URLs are
   * resolved against `url`. `false` turns the check off (a refused key is then retried like a drop).
   * @defaultValue `'snapshot'`: the router's snapshot endpoint beside the WebSocket path (`/api/system/snapshot`)
   */
  readonly authCheckUrl?: string | false | undefined;
  /**
   * The `fetch` used for `authCheckUrl`.
   * @defaultValue `globalThis.fetch`
   */
  readonly fetch?: FetchLike | undefined;
  /**
   * On the first connection, ask the server for the values of the last this many milliseconds (the
   * `since` handshake parameter), so that charts are full at once: they arrive with the snapshot, before
   * it ends, oldest first, each key in time order. The server keeps its own `historyMs` (5 minutes by
   * default); asking for more gets what it has. `0` asks for none: the snapshot only.
   * @defaultValue `0`
   */
  readonly historyMs?: number | undefined;
  /**
   * Reconnect without a gap and without repeats: every reconnect asks for `since` the newest `time`
   * received (less 2 s for producer clocks that disagree), and every envelope (backfilled, snapshot or
   * live) is passed on only when it is new for its key: its `time` is after the newest passed on for
   * that key, or equal to it with other content. So listeners see each value once, also across
   * reconnects, and a key's values never go back in time. `false` restores the plain behaviour: each
   * connection starts with the server's snapshot, passed on again in full.
   * @defaultValue `true`
   */
  readonly resume?: boolean | undefined;
  /**
   * The WebSocket class. Node 20 has no global WebSocket: pass `WebSocket` from the `ws` package there.
   * @defaultValue `globalThis.WebSocket`
   */
  readonly WebSocket?: WebSocketConstructor | undefined;
  /**
   * The source of randomness for the jitter, returning numbers in [0, 1).
   * @defaultValue `Math.random`
   */
  readonly random?: (() => number) | undefined;
  /**
   * The clock for reconnect waits and timestamps.
   * @defaultValue the global `setTimeout`, `clearTimeout` and `Date.now`
   */
  readonly timers?: StreamManagerTimers | undefined;
  /**
   * One connection for all tabs of this browser: the tabs of one origin with the same `url`, `types`
   * and `apiKey` (when `apiKey` is a function, the same `url` and `types`: functions cannot be compared
   * across tabs) elect a leader with the Web Locks API (the tab holding the lock, for as long as it is
   * open), and only the leader holds a WebSocket; it passes envelopes, snapshots, states and stale
   * sources to the other tabs over a `BroadcastChannel`. Every tab's manager behaves as if it had its own
   * connection: same events, same `latest()`, same `state`; a tab that joins later first receives the
   * leader's latest values (as a `snapshot` event). When the leader tab closes or crashes, the browser
   * grants the lock to another tab, which connects at once (no backoff). The server sees one client.
   *
   * In a tab, `close()` leaves the sharing (if it was the leader, another tab takes over) and
   * `connect()` asks the leader to connect. Where `navigator.locks` or `BroadcastChannel` is missing,
   * each tab has its own connection, as without this option. The sharing code is loaded with a dynamic
   * `import()` only when this is `true`.
   * @defaultValue `false`
   */
  readonly shareAcrossTabs?: boolean | undefined;
  /**
   * Closes the connection (normally, with 1000) once the page has been hidden this long, and reconnects
   * when it is visible again: the state is `closed` with reason `hidden` meanwhile. With
   * `shareAcrossTabs`, the shared connection closes only when no tab sharing it is visible. `0` keeps
   * the connection open while hidden.
   * @defaultValue `300000` (5 minutes)
   */
  readonly hiddenTimeoutMs?: number | undefined;
  /**
   * After the page becomes visible again, the manager waits a random time up to this long before it
   * reconnects, so that many dashboards shown at once (a screen unlocked, a wall of displays) do not
   * reconnect at the same instant. `0` reconnects at once.
   * @defaultValue `1000`
   */
  readonly resumeJitterMs?: number | undefined;
  /**
   * The page's visibility, for `hiddenTimeoutMs`.
   * @defaultValue `globalThis.document`, where there is one (none in Node: the page counts as visible)
   */
  readonly visibility?: VisibilitySource | undefined;
  /**
   * The browser's network state: on `offline` the manager closes its socket and waits (state
   * `reconnecting`, reason `offline`, no attempts counted); on `online` a reconnecting manager attempts
   * at once instead of waiting out its backoff.
   * @defaultValue `navigator.onLine` with the global `online`/`offline` events, in a browser (none in Node)
   */
  readonly network?: NetworkSource | undefined;
}

/**
 * What each {@link StreamManager} event passes to its listeners.
 * @public
 */
export interface StreamManagerEventMap {
  /** A metric sample, from the snapshot or live. */
  system_metric: SystemMetricMessage;
  /** A container's state, from the snapshot or live. */
  container_status: ContainerStatusMessage;
  /** A threshold crossing or, with level `resolved`, its end; from the snapshot or live. */
  alert: AlertMessage;
  /**
   * What a connection starts with, up to the `snapshot_end` packet: the server's snapshot and, after a
   * handshake with `since` (`historyMs`, or any reconnect with `resume`), the history backfilled with it,
   * oldest first. Applied to `latest()` at once; then the envelopes among them that are new (see `resume`)
   * are passed on one by one. With `shareAcrossTabs`, a tab that joins the others receives the leader's
   * latest values this way too.
   */
  snapshot: readonly Envelope[];
  /** Every change of the connection state. */
  state: StreamStatus;
  /**
   * A producer's `source` went stale (the server has received no metric from it for several of its
   * intervals) or live again. Also passed for each stale source of every snapshot, and, for a source
   * stale before a reconnect that the new snapshot no longer lists, as `live` with `last_seen` set to
   * the time that snapshot arrived.
   */
  source_status: SourceStatus;
  /**
   * A frame from the server was not used as sent: it was not a packet of its type's shape (dropped), it
   * came out of order (dropped), or a snapshot grew past the client's bounds (cut: what had arrived was
   * applied as the snapshot, the rest passed on as live). Nothing the server sends makes the manager throw.
   */
  discarded: StreamDiscard;
}

/**
 * What the `discarded` event of a {@link StreamManager} passes: a frame the server sent that the manager
 * did not use as sent.
 * @public
 */
export interface StreamDiscard {
  /**
   * - `malformed`: not JSON, not an object with a string `type`, a known type without its fields or with
   *   one of the wrong kind, a binary frame, or a frame over 1 Mi characters: dropped.
   * - `out_of_order`: a second `snapshot_end` on one connection: dropped.
   * - `snapshot_cut`: a snapshot (with its backfill) past 110,000 packets or 32 Mi characters before its
   *   `snapshot_end`: what had arrived was applied as the snapshot, and the rest is passed on as live.
   */
  readonly reason: 'malformed' | 'out_of_order' | 'snapshot_cut';
  /** What was wrong, in a few words; never the frame itself. */
  readonly detail: string;
  /** How many frames this manager has discarded for this `reason`, this one included. */
  readonly count: number;
}

/**
 * An observer of the envelopes a {@link StreamManager} receives.
 * @public
 */
export interface StreamObserver {
  /** Called with every envelope received, snapshot and live. */
  next?(envelope: Envelope): void;
  /** Never called: connection trouble is reported by the `state` event. */
  error?(error: unknown): void;
  /** Never called: a manager can always `connect()` again. */
  complete?(): void;
}

/**
 * Returned by {@link StreamManager.subscribe}.
 * @public
 */
export interface StreamSubscription {
  /** Stops the calls to the observer. Safe to call more than once. */
  unsubscribe(): void;
}
