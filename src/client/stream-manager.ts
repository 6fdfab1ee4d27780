// StreamManager: the client of the stream, for browsers and Node. Browser-safe: its only value imports are
// the wire format, the close codes and this folder, and it uses globalThis.WebSocket unless given another one.
import { isTerminalCloseCode } from '../close-codes.js';
import type { Envelope, SourceStatus } from '../protocol.js';
import { backoffDelay } from './backoff.js';
import { checkRefusal, openConnection, type Connection, type ConnectionHost } from './connection.js';
import { createLatestStore, type LatestStore } from './latest-store.js';
import { ANY_ENVELOPE, createListeners, iterateEnvelopes } from './listeners.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { watchPage, type PageWatch } from './page-watch.js';
import type { LeaderEvent, TabShare, Wake } from './tab-share.js';
import type {
  StreamManagerEventMap,
  StreamManagerOptions,
  StreamObserver,
  StreamState,
  StreamStatus,
  StreamSubscription,
} from './types.js';

/** The `reason` of `closed` while the page is hidden, and of `reconnecting` while the browser is offline. */
const HIDDEN = 'hidden';
const OFFLINE = 'offline';
/** How long a hidden leader waits for another tab to say that its page is visible. */
const VISIBLE_ANSWER_MS = 250;

/**
 * Who holds the connection: this tab alone (`solo`, also without `shareAcrossTabs`), this tab for all
 * (`leader`), or another tab (`follower`; also while joining, before the lock is granted).
 */
type Role = 'solo' | 'joining' | 'leader' | 'follower';

const sameStatus = (a: StreamStatus, b: StreamStatus): boolean =>
  a.state === b.state && a.attempt === b.attempt && a.nextAttemptAt === b.nextAttemptAt && a.reason === b.reason && a.code === b.code;

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
  readonly #o: ResolvedOptions;
  readonly #listeners = createListeners();
  readonly #store: LatestStore;
  readonly #page: PageWatch;
  #status: StreamStatus = { state: 'closed' };
  #connection: Connection | null = null;
  #retry: { readonly handle: unknown } | null = null;
  #role: Role = 'solo';
  #share: TabShare | null = null;
  /** Counts joins, so that a join still loading when `close()` was called is abandoned. */
  #joins = 0;
  #closing: Promise<void> = Promise.resolve();
  #attempt = 0;

  /** What the current connection reports; a connection the manager has let go of reports nothing. */
  readonly #connectionHost: ConnectionHost = {
    opened: () => this.#setStatus({ state: 'open' }),
    snapshot: (envelopes, stale, isCurrent) => this.#applySnapshot(envelopes, stale, isCurrent),
    envelope: (envelope) => this.#applyEnvelope(envelope),
    sourceStatus: (status) => this.#applySourceStatus(status),
    serverStatus: (packet) => {
      if (packet.type === 'error') {
        if (this.#status.state === 'open') this.#setStatus({ state: 'degraded', reason: packet.data.reason });
      } else if (this.#status.state === 'degraded') {
        this.#setStatus({ state: 'open' });
      }
    },
    dropped: (code, detail, openedAt) => this.#dropped(code, detail, openedAt),
  };

  /** Checks the options and throws `TypeError` for a bad one; does not connect until {@link StreamManager.connect}. */
  constructor(options: StreamManagerOptions) {
    this.#o = resolveOptions(options);
    this.#store = createLatestStore(this.#o, this.#listeners);
    this.#page = watchPage(this.#o, { visibilityChange: this.#onVisibilityChange, online: this.#onOnline, offline: this.#onOffline });
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
   * Does nothing while `connecting`, `open` or `degraded`. With `shareAcrossTabs`, joins the other tabs
   * (which may already hold the connection), or asks the tab that holds it to do the above.
   */
  connect(): void {
    this.#page.listen();
    if (this.#role === 'follower') {
      this.#share?.ask('connect');
      return;
    }
    const { state } = this.#status;
    if (state === 'reconnecting') {
      this.#cancelRetry();
      this.#open();
    } else if (state === 'closed') {
      this.#attempt = 0;
      if (this.#role === 'solo' && this.#canShare()) this.#joinTabs();
      else this.#open();
    }
    if (!this.#page.isVisible) this.#startHiddenTimer();
  }

  /**
   * Stops everything: cancels a pending reconnect and closes the socket with 1000. The state becomes
   * `closed` at once; the promise resolves once the socket has closed. Safe to call more than once;
   * `connect()` starts again. With `shareAcrossTabs` it leaves the other tabs, which keep their shared
   * connection (if this tab held it, another one takes over).
   */
  close(): Promise<void> {
    this.#leaveTabs();
    this.#page.unlisten();
    this.#page.stopHiddenTimer();
    this.#cancelRetry();
    const connection = this.#connection;
    this.#connection = null;
    connection?.stop();
    if (this.#status.state !== 'closed' || this.#status.reason === HIDDEN) this.#setStatus({ state: 'closed', reason: 'closed by the client' });
    // After the state: a state listener that connects again gets a new connection, and this one still closes.
    const closing = connection?.close();
    if (closing) this.#closing = closing;
    return this.#closing;
  }

  /**
   * The latest envelope of every key (see `envelopeKey`), as a new map. The server's snapshot replaces
   * the contents on every connection; live envelopes update them; a `resolved` alert removes its series'
   * alert. While reconnecting, the values of the last connection stay.
   */
  latest(): Map<string, Envelope> {
    return this.#store.latest();
  }

  /**
   * The producers' sources the server reports stale now (no metric for several of their usual intervals),
   * by `source`, as a new map: from each snapshot's `source_status` packets, then live ones. A source
   * leaves the map when the server reports it `live` again.
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

  #open(): void {
    let connection: Connection;
    try {
      connection = openConnection(this.#o, this.#connectionHost);
    } catch (error) {
      // The WebSocket constructor throws only for what a retry cannot fix, such as a port the browser blocks.
      this.#setStatus({ state: 'closed', reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    this.#connection = connection;
    // After the connection is set, so that a state listener calling close() closes it.
    this.#setStatus(this.#attempt > 0 ? { state: 'connecting', attempt: this.#attempt } : { state: 'connecting' });
  }

  #dropped(code: number, detail: string | undefined, openedAt: number | undefined): void {
    this.#connection = null;
    const neverOpened = openedAt === undefined;
    // ws (Node) reports a refused handshake's status in its error message; browsers do not.
    const refusedStatus = neverOpened ? /Unexpected server response: (40[013])\b/.exec(detail ?? '')?.[1] : undefined;
    if (refusedStatus !== undefined) code = 4000 + Number(refusedStatus);
    const reason = `closed with ${code}${detail ? `: ${detail}` : ''}`;
    if (isTerminalCloseCode(code)) {
      this.#setStatus({ state: 'closed', code, reason });
      return;
    }
    if (this.#page.isOffline) {
      // Not the server's fault, and retrying cannot help: wait for the `online` event, counting nothing.
      this.#setStatus({ state: 'reconnecting', code, reason: OFFLINE });
      return;
    }
    const now = this.#o.timers.now();
    // The reset rule, measured when the socket closes so that no timer runs while it is open: a
    // connection that stayed open `stableAfterMs` was healthy, so the schedule starts again at its
    // first wait. A flapping server (or a refused handshake, never open) keeps climbing to the last wait.
    if (openedAt !== undefined && now - openedAt >= this.#o.stableAfterMs) this.#attempt = 0;
    const attempt = ++this.#attempt;
    const delay = backoffDelay(attempt, this.#o.backoffMs, this.#o.jitter, this.#o.random);
    const handle = this.#o.timers.setTimeout(() => {
      this.#retry = null;
      this.#open();
    }, delay);
    this.#retry = { handle };
    this.#setStatus({ state: 'reconnecting', attempt, nextAttemptAt: now + delay, code, reason });
    if (neverOpened) this.#checkRefusal(this.#retry);
  }

  /** Stops the manager if the server says it refuses the handshake (see `checkRefusal`). */
  #checkRefusal(retry: { readonly handle: unknown }): void {
    checkRefusal(this.#o, (status) => {
      // Still waiting on the same retry: not closed, reconnected or given up in the meantime.
      if (this.#retry !== retry) return;
      this.#cancelRetry();
      this.#setStatus({ state: 'closed', code: 4000 + status, reason: `the server refused the handshake: HTTP ${status}` });
    });
  }

  // Received on the socket: passed to the other tabs first (as every status is, see #setStatus), then applied.

  #applySnapshot(envelopes: readonly Envelope[], stale: readonly SourceStatus[], isCurrent: () => boolean): void {
    this.#broadcast({ t: 'snapshot', envelopes, stale });
    this.#store.applySnapshot(envelopes, stale, isCurrent);
  }

  #applyEnvelope(envelope: Envelope): void {
    this.#broadcast({ t: 'envelope', envelope });
    this.#store.applyEnvelope(envelope);
  }

  #applySourceStatus(status: SourceStatus): void {
    this.#broadcast({ t: 'source', status });
    this.#store.applySourceStatus(status);
  }

  #setStatus(status: StreamStatus): void {
    if (sameStatus(status, this.#status)) return;
    this.#status = status;
    this.#broadcast({ t: 'state', status });
    this.#listeners.emit('state', status);
  }

  #cancelRetry(): void {
    if (this.#retry) this.#o.timers.clearTimeout(this.#retry.handle);
    this.#retry = null;
  }

  /** Gives the socket up without waiting for its close handshake, which a dead link may never complete. */
  #dropSocket(): void {
    const connection = this.#connection;
    this.#connection = null;
    this.#cancelRetry();
    connection?.drop();
  }

  // ------------------------------------------------------------ the page and the network

  readonly #onVisibilityChange = (): void => {
    if (!this.#page.isVisible) {
      if (this.#role !== 'follower' && this.#role !== 'joining') this.#startHiddenTimer();
      return;
    }
    this.#page.stopHiddenTimer();
    if (this.#role === 'follower') {
      if (this.#isPaused()) this.#share?.ask('visible');
    } else if (this.#role !== 'joining') {
      this.#resume();
    }
  };

  readonly #onOnline = (): void => {
    if ((this.#role === 'solo' || this.#role === 'leader') && this.#status.state === 'reconnecting') {
      this.#cancelRetry();
      this.#attempt = 0; // the network changed: earlier failures say nothing about this attempt
      this.#open();
    }
  };

  readonly #onOffline = (): void => {
    if (this.#role !== 'solo' && this.#role !== 'leader') return;
    const { state } = this.#status;
    if (state === 'closed') return;
    this.#dropSocket();
    this.#setStatus({ state: 'reconnecting', reason: OFFLINE });
  };

  /** Closed because the page (every page sharing the connection) was hidden: it resumes when one is visible. */
  #isPaused(): boolean {
    return this.#status.state === 'closed' && this.#status.reason === HIDDEN;
  }

  /** For the tab that holds the connection; another tab's connection is closed by that tab. */
  #startHiddenTimer(): void {
    if (this.#role === 'follower' || this.#role === 'joining' || this.#status.state === 'closed') return;
    this.#page.startHiddenTimer(() => {
      if (this.#status.state === 'closed' || this.#role === 'follower') return;
      if (this.#role === 'leader' && this.#share) {
        // The connection is every tab's: close it only if none of them is visible.
        this.#share.askVisible(VISIBLE_ANSWER_MS, (isAnyVisible) => {
          if (isAnyVisible) this.#startHiddenTimer();
          else if (!this.#page.isVisible) this.#pause();
        });
      } else {
        this.#pause();
      }
    });
  }

  /** Hidden long enough: a normal close, not a failure; nothing is retried until the page is visible. */
  #pause(): void {
    if (this.#status.state === 'closed') return;
    this.#dropSocket();
    this.#setStatus({ state: 'closed', reason: HIDDEN });
  }

  /** Visible again after a pause: reconnect after a random wait, so that many tabs shown at once do not storm. */
  #resume(): void {
    if (!this.#isPaused()) return;
    const delay = Math.round(this.#o.random() * this.#o.resumeJitterMs);
    this.#attempt = 0;
    const handle = this.#o.timers.setTimeout(() => {
      this.#retry = null;
      this.#open();
    }, delay);
    this.#retry = { handle };
    this.#setStatus({ state: 'reconnecting', nextAttemptAt: this.#o.timers.now() + delay, reason: 'visible again' });
  }

  // ------------------------------------------------------------ sharing the connection between tabs

  #canShare(): boolean {
    const g = globalThis as { navigator?: { locks?: unknown }; BroadcastChannel?: unknown };
    return this.#o.shareAcrossTabs && typeof g.navigator?.locks === 'object' && g.navigator.locks !== null && typeof g.BroadcastChannel === 'function';
  }

  /**
   * Loads the sharing code (only now: apps that do not share never load it) and joins the other tabs.
   * This tab is a follower until the lock is granted; then `lead()` opens the connection.
   */
  #joinTabs(): void {
    const { navigator, BroadcastChannel } = globalThis as unknown as { navigator: { locks: LockManager }; BroadcastChannel: typeof globalThis.BroadcastChannel };
    const { locks } = navigator;
    this.#role = 'joining';
    const joining = ++this.#joins;
    this.#setStatus({ state: 'connecting' });
    import('./tab-share.js').then(
      ({ joinTabs, shareName }) => {
        if (joining !== this.#joins || this.#role !== 'joining') return; // closed (and maybe connected again) while loading
        this.#role = 'follower';
        const share: TabShare = joinTabs(
          shareName(this.#o.url, this.#o.protocols),
          {
            lead: () => this.#lead(share),
            follow: (event) => this.#follow(share, event),
            sync: () => this.#syncEvents(),
            wake: (why) => this.#wake(why),
            isVisible: () => this.#page.isVisible,
          },
          { locks, BroadcastChannel, timers: this.#o.timers, random: this.#o.random },
        );
        this.#share = share;
      },
      () => {
        // The chunk could not be loaded (offline, a bundler that dropped it): one connection for this tab.
        if (joining !== this.#joins || this.#role !== 'joining') return;
        this.#role = 'solo';
        this.#open();
      },
    );
  }

  #leaveTabs(): void {
    this.#share?.leave();
    this.#share = null;
    this.#role = 'solo';
  }

  #broadcast(event: LeaderEvent): void {
    if (this.#role === 'leader') this.#share?.broadcast(event);
  }

  /** This tab got the lock: connect at once, with no backoff, unless the shared connection is meant to stay closed. */
  #lead(share: TabShare): void {
    if (share !== this.#share) return;
    this.#role = 'leader';
    const { state } = this.#status;
    if (this.#isPaused()) {
      if (this.#page.isVisible) this.#resume(); // else it stays paused until a tab is visible again
    } else if (state !== 'closed') {
      // A `closed` taken over from the last leader is a refusal: `connect()` starts again.
      this.#cancelRetry();
      this.#attempt = 0;
      this.#open();
      if (!this.#page.isVisible) this.#startHiddenTimer();
    }
  }

  /** An event from the leader, applied as this tab's own socket's would be (a follower has no tabs to pass it to). */
  #follow(share: TabShare, event: LeaderEvent): void {
    if (share !== this.#share || this.#role !== 'follower') return;
    switch (event.t) {
      case 'state':
        this.#setStatus(event.status);
        // Shown while the leader was deciding that no page is visible: wake it, or no visible tab would.
        if (this.#isPaused() && this.#page.isVisible) share.ask('visible');
        return;
      case 'snapshot':
        this.#store.applySnapshot(event.envelopes, event.stale, () => share === this.#share);
        return;
      case 'envelope':
        this.#store.applyEnvelope(event.envelope);
        return;
      case 'source':
        this.#store.applySourceStatus(event.status);
        return;
    }
  }

  /**
   * What a tab that joins now needs to behave as if it had been connected all along: the latest values (as
   * a snapshot, unless there has been none yet: the first arrives like any other), then the state.
   */
  #syncEvents(): readonly LeaderEvent[] {
    const state: LeaderEvent = { t: 'state', status: this.#status };
    const contents = this.#store.contents();
    return contents ? [{ t: 'snapshot', ...contents }, state] : [state];
  }

  #wake(why: Wake): void {
    if (why === 'visible') this.#resume();
    else this.connect();
  }
}
