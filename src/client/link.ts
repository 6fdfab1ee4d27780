// The link behind a StreamManager: keeps a connection to the stream for this tab, or for all the tabs that
// share one. It is the state machine behind `state`: the status, the reconnect schedule, and what the
// page, the network and the other tabs mean for the connection. One socket is connection.ts; the tabs'
// channel is tab-share.ts, loaded only when shared; what arrives goes to latest-store.ts. Browser-safe.
//
// Longer than 300 lines, and kept whole on purpose: it is one state machine. Every transition (a socket
// dropped, the page hidden or shown, the network lost or back, the lock granted to this tab, a leader's
// event) reads and writes the same status, role, pending retry and attempt count; split by topic, each part
// would need all of them through a wide interface.
import { CloseCode, isTerminalCloseCode } from '../protocol/close-codes.js';
import { keyProtocol } from '../protocol/wire.js';
import { backoffDelay } from './backoff.js';
import { checkRefusal, openConnection, type Connection, type ConnectionHost } from './ws-connection.js';
import type { LatestStore } from './latest-store.js';
import type { Listeners } from './listeners.js';
import type { ResolvedOptions } from './client-options.js';
import { watchPage } from './page-watch.js';
import type { LeaderEvent, TabShare, Wake } from './tab-share.js';
import type { StreamStatus } from './types.js';
import { ResumeTracker } from './resume.js';

/** The `reason` of `closed` while the page is hidden, and of `reconnecting` while the browser is offline. */
const HIDDEN = 'hidden';
const OFFLINE = 'offline';
/** How long a hidden leader waits for another tab to say that its page is visible. */
const VISIBLE_ANSWER_MS = 250;
/**
 * A connection closed because its credentials expired reconnects at once only if it lived this long: a
 * provider that hands out tokens already (nearly) expired would otherwise reconnect in a tight loop.
 */
const MIN_RENEWED_LIFETIME_MS = 1000;

/**
 * Who holds the connection: this tab alone (`solo`, also without `shareAcrossTabs`), this tab for all
 * (`leader`), or another tab (`follower`; also while joining, before the lock is granted).
 */
type Role = 'solo' | 'joining' | 'leader' | 'follower';

const sameStatus = (a: StreamStatus, b: StreamStatus): boolean =>
  a.state === b.state && a.attempt === b.attempt && a.nextAttemptAt === b.nextAttemptAt && a.reason === b.reason && a.code === b.code;

/** See {@link createLink}; StreamManager's `state`, `status`, `connect()` and `close()` are this. */
export interface Link {
  /** The current connection state with its details. */
  readonly status: StreamStatus;
  /** Opens the connection, attempts at once, or asks the leader tab to; see StreamManager.connect. */
  connect(): void;
  /** Stops everything and closes the socket; see StreamManager.close. */
  close(): Promise<void>;
}

/** A link in state `closed`: nothing runs until `connect()`. Passes what arrives to `store`, and each status to `listeners`. */
export function createLink(o: ResolvedOptions, store: LatestStore, listeners: Listeners): Link {
  const { timers } = o;
  let status: StreamStatus = { state: 'closed' };
  let connection: Connection | null = null;
  let retry: { readonly handle: unknown } | null = null;
  let attempt = 0;
  let closing: Promise<void> = Promise.resolve();
  /** The `apiKey` function's call being waited for; `null` when none is (an answer then is ignored). */
  let asking: { readonly timeout: unknown } | null = null;
  /** The key of the latest attempt, for the refusal check: `apiKey`, or what its function returned. */
  let lastKey = o.apiKey;
  let role: Role = 'solo';
  let share: TabShare | null = null;
  /** Counts joins, so that a join still loading when `close()` was called is abandoned. */
  let joins = 0;
  const page = watchPage(o, { visibilityChange: onVisibilityChange, online: onOnline, offline: onOffline });
  // Each connection asks for `since` and each value is passed on once, across reconnects.
  const resumeTracker = new ResumeTracker(o.historyMs, o.resume, () => timers.now());

  // Received on the socket: passed to the other tabs first, as every status is (see setStatus).
  const connectionHost: ConnectionHost = {
    opened: () => setStatus({ state: 'open' }),
    snapshot(envelopes, stale, isCurrent) {
      broadcast({ t: 'snapshot', envelopes, stale });
      store.applySnapshot(envelopes, stale, isCurrent, (e) => resumeTracker.accept(e));
    },
    envelope(envelope) {
      if (!resumeTracker.accept(envelope)) return; // passed on before this reconnect, or older than its key's newest
      broadcast({ t: 'envelope', envelope });
      store.applyEnvelope(envelope);
    },
    sourceStatus(sourceStatus) {
      broadcast({ t: 'source', status: sourceStatus });
      store.applySourceStatus(sourceStatus);
    },
    discarded: (reason, detail) => store.discarded(reason, detail),
    serverStatus(packet) {
      if (packet.type === 'error') {
        if (status.state === 'open') setStatus({ state: 'degraded', reason: packet.data.reason });
      } else if (status.state === 'degraded') {
        setStatus({ state: 'open' });
      }
    },
    dropped,
  };

  function connect(): void {
    page.listen();
    if (role === 'follower') {
      share?.ask('connect');
      return;
    }
    const { state } = status;
    if (state === 'reconnecting') {
      cancelRetry();
      open();
    } else if (state === 'closed') {
      attempt = 0;
      if (role === 'solo' && canShare()) joinTabs();
      else open();
    }
    if (!page.isVisible) startHiddenTimer();
  }

  function close(): Promise<void> {
    leaveTabs();
    page.unlisten();
    page.stopHiddenTimer();
    cancelRetry();
    const closed = connection;
    connection = null;
    closed?.stop();
    if (status.state !== 'closed' || status.reason === HIDDEN) setStatus({ state: 'closed', reason: 'closed by the client' });
    // After the state: a state listener that connects again gets a new connection, and this one still closes.
    const closingNow = closed?.close();
    if (closingNow) closing = closingNow;
    return closing;
  }

  /**
   * Opens a socket, first asking the `apiKey` function for a key if there is one (every attempt: tokens
   * expire). `why` explains a `connecting` that follows an expiry.
   */
  function open(why?: Pick<StreamStatus, 'code' | 'reason'>): void {
    const connecting: StreamStatus = { state: 'connecting', ...(attempt > 0 ? { attempt } : {}), ...why };
    const provider = o.apiKeyProvider;
    if (provider === undefined) {
      openSocket(o.protocols, connecting);
      return;
    }
    const timeoutMs = o.connectTimeoutMs;
    const timeout =
      timeoutMs === 0 ? null : timers.setTimeout(() => refused(`did not answer within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    const call = { timeout };
    asking = call;
    setStatus(connecting);
    // Each outcome counts only if this call is still the one waited for (not closed, timed out or replaced).
    function answered(key: unknown): void {
      if (asking !== call) return;
      stopAsking();
      if (typeof key !== 'string' || key.length === 0) {
        providerFailed('returned no key');
        return;
      }
      lastKey = key;
      openSocket([...o.protocols, keyProtocol(key)], connecting);
    }
    function refused(why: string): void {
      if (asking !== call) return;
      stopAsking();
      providerFailed(why);
    }
    const failed = (error: unknown): void => refused(`failed: ${error instanceof Error ? error.message : String(error)}`);
    try {
      Promise.resolve(provider()).then(answered, failed);
    } catch (error) {
      failed(error);
    }
  }

  function openSocket(protocols: string[], connecting: StreamStatus): void {
    try {
      connection = openConnection({ ...o, url: resumeTracker.url(o.url), protocols }, connectionHost);
    } catch (error) {
      // The WebSocket constructor throws only for what a retry cannot fix, such as a port the browser blocks.
      setStatus({ state: 'closed', reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    // After the connection is set, so that a state listener calling close() closes it.
    setStatus(connecting);
  }

  function stopAsking(): void {
    if (asking !== null && asking.timeout !== null) timers.clearTimeout(asking.timeout);
    asking = null;
  }

  /** The `apiKey` function threw, rejected, returned no key or did not answer: retried with backoff, like a drop. */
  function providerFailed(why: string): void {
    const reason = `the apiKey function ${why}`;
    if (page.isOffline) {
      setStatus({ state: 'reconnecting', reason: OFFLINE });
      return;
    }
    const delay = backoffDelay(++attempt, o.backoffMs, o.jitter, o.random);
    retryIn(delay);
    setStatus({ state: 'reconnecting', attempt, nextAttemptAt: timers.now() + delay, reason });
  }

  function dropped(code: number, detail: string | undefined, openedAt: number | undefined): void {
    connection = null;
    const neverOpened = openedAt === undefined;
    // ws (Node) reports a refused handshake's status in its error message; browsers do not.
    const refusedStatus = neverOpened ? /Unexpected server response: (40[013])\b/.exec(detail ?? '')?.[1] : undefined;
    if (refusedStatus !== undefined) code = 4000 + Number(refusedStatus);
    const reason = `closed with ${code}${detail ? `: ${detail}` : ''}`;
    if (isTerminalCloseCode(code)) {
      setStatus({ state: 'closed', code, reason });
      return;
    }
    const now = timers.now();
    if (
      code === CloseCode.CredentialsExpired &&
      o.apiKeyProvider !== undefined &&
      openedAt !== undefined &&
      now - openedAt >= MIN_RENEWED_LIFETIME_MS &&
      !page.isOffline
    ) {
      // Not a failure: ask for a fresh key and reconnect now, resuming with `since` (no backoff step).
      attempt = 0;
      open({ code, reason });
      return;
    }
    if (page.isOffline) {
      // Not the server's fault, and retrying cannot help: wait for the `online` event, counting nothing.
      setStatus({ state: 'reconnecting', code, reason: OFFLINE });
      return;
    }
    // The reset rule, measured when the socket closes so that no timer runs while it is open: a
    // connection that stayed open `stableAfterMs` was healthy, so the schedule starts again at its
    // first wait. A flapping server (or a refused handshake, never open) keeps climbing to the last wait.
    if (openedAt !== undefined && now - openedAt >= o.stableAfterMs) attempt = 0;
    const delay = backoffDelay(++attempt, o.backoffMs, o.jitter, o.random);
    retryIn(delay);
    setStatus({ state: 'reconnecting', attempt, nextAttemptAt: now + delay, code, reason });
    if (!neverOpened) return;
    const refusing = retry;
    checkRefusal({ ...o, apiKey: lastKey }, (httpStatus) => {
      // Still waiting on the same retry: not closed, reconnected or given up in the meantime.
      if (retry !== refusing) return;
      cancelRetry();
      setStatus({ state: 'closed', code: 4000 + httpStatus, reason: `the server refused the handshake: HTTP ${httpStatus}` });
    });
  }

  function setStatus(next: StreamStatus): void {
    if (sameStatus(next, status)) return;
    status = next;
    broadcast({ t: 'state', status: next });
    listeners.emit('state', next);
  }

  /** Opens a connection after `delay` ms, unless cancelled. */
  function retryIn(delay: number): void {
    const handle = timers.setTimeout(() => {
      retry = null;
      open();
    }, delay);
    retry = { handle };
  }

  /** Cancels a pending attempt: its wait, or the `apiKey` function's answer it waits for. */
  function cancelRetry(): void {
    if (retry) timers.clearTimeout(retry.handle);
    retry = null;
    stopAsking();
  }

  /** Gives the socket up without waiting for its close handshake, which a dead link may never complete. */
  function dropSocket(): void {
    const dropping = connection;
    connection = null;
    cancelRetry();
    dropping?.drop();
  }

  // ------------------------------------------------------------ the page and the network

  function onVisibilityChange(): void {
    if (!page.isVisible) {
      if (role !== 'follower' && role !== 'joining') startHiddenTimer();
      return;
    }
    page.stopHiddenTimer();
    if (role === 'follower') {
      if (isPaused()) share?.ask('visible');
    } else if (role !== 'joining') {
      resume();
    }
  }

  function onOnline(): void {
    if ((role === 'solo' || role === 'leader') && status.state === 'reconnecting') {
      cancelRetry();
      attempt = 0; // the network changed: earlier failures say nothing about this attempt
      open();
    }
  }

  function onOffline(): void {
    if (role !== 'solo' && role !== 'leader') return;
    if (status.state === 'closed') return;
    dropSocket();
    setStatus({ state: 'reconnecting', reason: OFFLINE });
  }

  /** Closed because the page (every page sharing the connection) was hidden: it resumes when one is visible. */
  function isPaused(): boolean {
    return status.state === 'closed' && status.reason === HIDDEN;
  }

  /** For the tab that holds the connection; another tab's connection is closed by that tab. */
  function startHiddenTimer(): void {
    if (role === 'follower' || role === 'joining' || status.state === 'closed') return;
    page.startHiddenTimer(() => {
      if (status.state === 'closed' || role === 'follower') return;
      if (role === 'leader' && share) {
        // The connection is every tab's: close it only if none of them is visible.
        share.askVisible(VISIBLE_ANSWER_MS, (isAnyVisible) => {
          if (isAnyVisible) startHiddenTimer();
          else if (!page.isVisible) pause();
        });
      } else {
        pause();
      }
    });
  }

  /** Hidden long enough: a normal close, not a failure; nothing is retried until the page is visible. */
  function pause(): void {
    if (status.state === 'closed') return;
    dropSocket();
    setStatus({ state: 'closed', reason: HIDDEN });
  }

  /** Visible again after a pause: reconnect after a random wait, so that many tabs shown at once do not storm. */
  function resume(): void {
    if (!isPaused()) return;
    const delay = Math.round(o.random() * o.resumeJitterMs);
    attempt = 0;
    retryIn(delay);
    setStatus({ state: 'reconnecting', nextAttemptAt: timers.now() + delay, reason: 'visible again' });
  }

  // ------------------------------------------------------------ sharing the connection between tabs

  function canShare(): boolean {
    const g = globalThis as { navigator?: { locks?: unknown }; BroadcastChannel?: unknown };
    return (
      o.shareAcrossTabs && typeof g.navigator?.locks === 'object' && g.navigator.locks !== null && typeof g.BroadcastChannel === 'function'
    );
  }

  /**
   * Loads the sharing code (only now: apps that do not share never load it) and joins the other tabs.
   * This tab is a follower until the lock is granted; then `lead()` opens the connection.
   */
  function joinTabs(): void {
    const { navigator, BroadcastChannel } = globalThis as unknown as {
      navigator: { locks: LockManager };
      BroadcastChannel: typeof globalThis.BroadcastChannel;
    };
    const { locks } = navigator;
    role = 'joining';
    const joining = ++joins;
    setStatus({ state: 'connecting' });
    import('./tab-share.js').then(
      (tabShare) => {
        if (joining !== joins || role !== 'joining') return; // closed (and maybe connected again) while loading
        role = 'follower';
        const joined: TabShare = tabShare.joinTabs(
          tabShare.shareName(o.url, o.protocols),
          {
            lead: () => lead(joined),
            follow: (event) => follow(joined, event),
            sync: syncEvents,
            wake,
            isVisible: () => page.isVisible,
          },
          { locks, BroadcastChannel, timers, random: o.random },
        );
        share = joined;
      },
      () => {
        // The chunk could not be loaded (offline, a bundler that dropped it): one connection for this tab.
        if (joining !== joins || role !== 'joining') return;
        role = 'solo';
        open();
      },
    );
  }

  function leaveTabs(): void {
    share?.leave();
    share = null;
    role = 'solo';
  }

  function broadcast(event: LeaderEvent): void {
    if (role === 'leader') share?.broadcast(event);
  }

  /** This tab got the lock: connect at once, with no backoff, unless the shared connection is meant to stay closed. */
  function lead(joined: TabShare): void {
    if (joined !== share) return;
    role = 'leader';
    if (isPaused()) {
      if (page.isVisible) resume(); // else it stays paused until a tab is visible again
    } else if (status.state !== 'closed') {
      // A `closed` taken over from the last leader is a refusal: `connect()` starts again.
      cancelRetry();
      attempt = 0;
      open();
      if (!page.isVisible) startHiddenTimer();
    }
  }

  /** An event from the leader, applied as this tab's own socket's would be (a follower has no tabs to pass it to). */
  function follow(joined: TabShare, event: LeaderEvent): void {
    if (joined !== share || role !== 'follower') return;
    switch (event.t) {
      case 'state':
        setStatus(event.status);
        // Shown while the leader was deciding that no page is visible: wake it, or no visible tab would.
        if (isPaused() && page.isVisible) joined.ask('visible');
        return;
      case 'snapshot':
        store.applySnapshot(event.envelopes, event.stale, () => joined === share);
        return;
      case 'envelope':
        store.applyEnvelope(event.envelope);
        return;
      case 'source':
        store.applySourceStatus(event.status);
        return;
    }
  }

  /**
   * What a tab that joins now needs to behave as if it had been connected all along: the latest values (as
   * a snapshot, unless there has been none yet: the first arrives like any other), then the state.
   */
  function syncEvents(): readonly LeaderEvent[] {
    const state: LeaderEvent = { t: 'state', status };
    const contents = store.contents();
    return contents ? [{ t: 'snapshot', ...contents }, state] : [state];
  }

  function wake(why: Wake): void {
    if (why === 'visible') resume();
    else connect();
  }

  return {
    get status() {
      return status;
    },
    connect,
    close,
  };
}
