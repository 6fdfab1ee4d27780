// What StreamManager needs of its surroundings: a WebSocket, fetch, the page, the network and a clock. The
// browser's own fit; tests and other runtimes pass their own. Browser-safe: types only.

/**
 * The part of a WebSocket that {@link StreamManager} uses. The browser's `WebSocket` and the `ws`
 * package's `WebSocket` both fit; the manager also sets their `onopen`, `onmessage`, `onerror` and `onclose`.
 * @public
 */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Starts the closing handshake (or abandons a handshake in progress). */
  close(code?: number, reason?: string): void;
}

/**
 * A WebSocket class, such as `globalThis.WebSocket` or `WebSocket` from the `ws` package.
 * @public
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * The part of `fetch` that {@link StreamManager} uses to learn why a handshake was refused.
 * @public
 */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; cache: 'no-store'; credentials: 'same-origin' },
) => Promise<{ readonly status: number }>;

/**
 * Where {@link StreamManager} learns whether the page is visible: `document` in a browser.
 * @public
 */
export interface VisibilitySource {
  /** `'hidden'` while the page is hidden; anything else counts as visible. */
  readonly visibilityState: string;
  /** Subscribes to changes of `visibilityState`. */
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  /** Unsubscribes. */
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

/**
 * Where {@link StreamManager} learns whether the browser has a network: `navigator.onLine` and the
 * window's `online` and `offline` events in a browser.
 * @public
 */
export interface NetworkSource {
  /** `false` while the browser knows it has no network. */
  readonly onLine: boolean;
  /** Subscribes to the `online` and `offline` events. */
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  /** Unsubscribes. */
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

/**
 * The clock {@link StreamManager} waits with. Replace it to drive reconnects from a test.
 * @public
 */
export interface StreamManagerTimers {
  /** Calls `callback` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a callback that has not run yet. */
  clearTimeout(handle: unknown): void;
  /** Milliseconds since the epoch. */
  now(): number;
}
