// The page and the network as a StreamManager sees them: whether the page is visible and the browser
// online, their change events, and the timer that says the page has stayed hidden for `hiddenTimeoutMs`.
// What a change means for the connection is the manager's to decide. Browser-safe.
import type { ResolvedOptions } from './client-options.js';

/** The manager's listeners; each is added as it is, so each must work unbound. */
export interface PageHost {
  /** The page was hidden or shown. */
  readonly visibilityChange: () => void;
  /** The browser's `online` event. */
  readonly online: () => void;
  /** The browser's `offline` event. */
  readonly offline: () => void;
}

/** The page and the network; see {@link watchPage}. */
export interface PageWatch {
  /** Whether the page is visible; always, where there is no page. */
  readonly isVisible: boolean;
  /** Whether the browser knows it has no network; never, where there is no browser. */
  readonly isOffline: boolean;
  /** Adds the host's listeners. Idempotent. */
  listen(): void;
  /** Removes them. Idempotent. */
  unlisten(): void;
  /**
   * Calls `onHidden` after `hiddenTimeoutMs` unless the page is visible by then or the timer was stopped.
   * Does nothing while a timer runs, or when `hiddenTimeoutMs` is 0.
   */
  startHiddenTimer(onHidden: () => void): void;
  stopHiddenTimer(): void;
}

/** Watches `o.visibility` and `o.network` for `host` (from `listen()` on). */
export function watchPage(o: Pick<ResolvedOptions, 'visibility' | 'network' | 'timers' | 'hiddenTimeoutMs'>, host: PageHost): PageWatch {
  const { visibility, network, timers, hiddenTimeoutMs } = o;
  let isListening = false;
  let hiddenTimer: { readonly handle: unknown } | null = null;
  const watch: PageWatch = {
    get isVisible() {
      return visibility?.visibilityState !== 'hidden';
    },
    get isOffline() {
      return network?.onLine === false;
    },
    listen() {
      if (isListening) return;
      isListening = true;
      visibility?.addEventListener('visibilitychange', host.visibilityChange);
      network?.addEventListener('online', host.online);
      network?.addEventListener('offline', host.offline);
    },
    unlisten() {
      if (!isListening) return;
      isListening = false;
      visibility?.removeEventListener('visibilitychange', host.visibilityChange);
      network?.removeEventListener('online', host.online);
      network?.removeEventListener('offline', host.offline);
    },
    startHiddenTimer(onHidden) {
      if (hiddenTimeoutMs === 0 || hiddenTimer !== null) return;
      const handle = timers.setTimeout(() => {
        hiddenTimer = null;
        if (!watch.isVisible) onHidden();
      }, hiddenTimeoutMs);
      hiddenTimer = { handle };
    },
    stopHiddenTimer() {
      if (hiddenTimer) timers.clearTimeout(hiddenTimer.handle);
      hiddenTimer = null;
    },
  };
  return watch;
}
