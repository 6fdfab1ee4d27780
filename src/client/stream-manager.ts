// StreamManager: the client of the stream, for browsers and Node. Browser-safe: its only value imports are
// the wire format, the close codes and this folder, and it uses globalThis.WebSocket unless given another one.
// This file is the public face: the class, its events, its values and the observable interop. Behind it:
// options.ts (checks and defaults), link.ts (keeping the connection: the state machine), connection.ts (one
// socket), latest-store.ts (the latest values and the stale sources), page-watch.ts (the page and the
// network), listeners.ts (the events) and tab-share.ts (the other tabs, loaded only when shared).
import type { Envelope, SourceStatus } from '../protocol/wire.js';
import { createLatestStore, type LatestStore } from './latest-store.js';
import { createLink, type Link } from './link.js';
import { ANY_ENVELOPE, createListeners, iterateEnvelopes } from './listeners.js';
import { resolveOptions } from './client-options.js';
import type {
  StreamManagerEventMap,
  StreamManagerOptions,
  StreamObserver,
  StreamState,
  StreamStatus,
  StreamSubscription,
} from './types.js';

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
 * In a browser it also follows the page and the network: a page hidden for `hiddenTimeoutMs` (5 minutes)
 * closes its connection (`closed`, reason `hidden`) and reconnects when shown again, after a random wait of
 * up to `resumeJitterMs`; on the browser's `offline` event it closes its socket and waits (`reconnecting`,
 * reason `offline`, no countdown, nothing counted as a failure), and on `online` it reconnects at once.
 * With `shareAcrossTabs`, the tabs of a browser share one connection (see the option).
 *
 * The server's `source_status` packets say which producers went silent: see {@link StreamManager.staleSources}
 * and the `source_status` event.
 *
 * It is observable-compatible: `subscribe()` and `'@@observable'` (plus `[Symbol.observable]` where a
 * polyfill defines it) let RxJS users write `from(manager)` to get every envelope received; it is also
 * async-iterable (`for await (const envelope of manager)`).
 * @public
 */
export class StreamManager {
  readonly #listeners = createListeners();
  readonly #store: LatestStore;
  readonly #link: Link;

  /** Checks the options and throws `TypeError` for a bad one; does not connect until {@link StreamManager.connect}. */
  constructor(options: StreamManagerOptions) {
    const o = resolveOptions(options);
    this.#store = createLatestStore(o, this.#listeners);
    this.#link = createLink(o, this.#store, this.#listeners);
    // Set per instance, so a Symbol.observable polyfill loaded after this module still counts.
    const observable = (Symbol as { observable?: symbol }).observable;
    if (observable) (this as unknown as Record<symbol, () => this>)[observable] = () => this;
  }

  /** The current connection state. */
  get state(): StreamState {
    return this.#link.status.state;
  }

  /** The current connection state with its details, e.g. when the next attempt starts. */
  get status(): StreamStatus {
    return this.#link.status;
  }

  /**
   * Opens the connection when `closed`. While `reconnecting`, attempts at once instead of waiting.
   * Does nothing while `connecting`, `open` or `degraded`. With `shareAcrossTabs`, joins the other tabs
   * (which may already hold the connection), or asks the tab that holds it to do the above.
   */
  connect(): void {
    this.#link.connect();
  }

  /**
   * Stops everything: cancels a pending reconnect and closes the socket with 1000. The state becomes
   * `closed` at once; the promise resolves once the socket has closed. Safe to call more than once;
   * `connect()` starts again. With `shareAcrossTabs` it leaves the other tabs, which keep their shared
   * connection (if this tab held it, another one takes over).
   */
  close(): Promise<void> {
    return this.#link.close();
  }

  /**
   * The latest envelope of every key (see `envelopeKey`), as a new map. The server's snapshot replaces
   * the contents on every connection; live envelopes update them; a `resolved` alert removes its series'
   * alert. While reconnecting, the values of the last connection stay. It holds at most 20,000 keys (twice
   * the server's default snapshot); past that the least recently updated key is forgotten.
   */
  latest(): Map<string, Envelope> {
    return this.#store.latest();
  }

  /**
   * The producers' sources the server reports stale now (no metric for several of their usual intervals),
   * by `source`, as a new map: from each snapshot's `source_status` packets, then live ones. A source
   * leaves the map when the server reports it `live` again. At most 10,000 sources; past that the least
   * recently reported is forgotten. The server reports only the sources this client may see, and none to a
   * client whose `types` leave out `system_metric`.
   */
  staleSources(): Map<string, SourceStatus> {
    return this.#store.staleSources();
  }

  /**
   * Calls `listener` on every `event`; returns a function that removes it. Envelope listeners also receive
   * the snapshot's envelopes, so after a reconnect they see the latest value of each key again.
   */
  on<K extends keyof StreamManagerEventMap>(event: K, listener: (value: StreamManagerEventMap[K]) => void): () => void {
    return this.#listeners.on(event, listener);
  }

  /**
   * Passes every envelope received (snapshot and live) to `observer` until it unsubscribes.
   * Never errors or completes; follow the `state` event for connection trouble.
   */
  subscribe(observer?: StreamObserver | ((envelope: Envelope) => void) | null): StreamSubscription {
    const off = this.on(ANY_ENVELOPE as 'alert', (envelope: Envelope) => {
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
    return iterateEnvelopes((next) => this.subscribe(next));
  }
}
