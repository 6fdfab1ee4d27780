// One WebSocket of a StreamManager, from its handshake to its close: the two watchdogs (no handshake
// answer within `connectTimeoutMs`, no frame at all for `idleTimeoutMs`), the frames read as packets, the
// snapshot held until its `snapshot_end`, and the question why a handshake failed. What a close means
// (retry, give up, wait for the network) is the link's to decide (link.ts). Browser-safe.
import {
  ENVELOPE_TYPES,
  parsePacket,
  type Envelope,
  type EnvelopeType,
  type ErrorPacket,
  type ServerPacket,
  type SourceStatus,
  type StatusPacket,
} from '../protocol/wire.js';
import type { ResolvedOptions } from './client-options.js';
import type { WebSocketLike } from './types.js';

// The socket with the handlers the manager sets; both the browser's WebSocket and ws's have them.
interface Socket extends WebSocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

const CLOSED = 3;

/** What a connection tells the link; nothing is called once the link has stopped it. */
export interface ConnectionHost {
  /** The handshake completed. */
  opened(): void;
  /** The snapshot, whole; `isCurrent()` turns false when a listener stops the connection while it is passed on. */
  snapshot(envelopes: readonly Envelope[], stale: readonly SourceStatus[], isCurrent: () => boolean): void;
  /** A live envelope (after the snapshot). */
  envelope(envelope: Envelope): void;
  /** A live `source_status` (after the snapshot). */
  sourceStatus(status: SourceStatus): void;
  /** The server cannot deliver live data (`error`), or can again (`status`). */
  serverStatus(packet: ErrorPacket | StatusPacket): void;
  /**
   * The socket closed, or a watchdog gave it up, with this code and detail (the close reason or the socket
   * error's message). `openedAt` is when its handshake completed, `undefined` if it never did.
   */
  dropped(code: number, detail: string | undefined, openedAt: number | undefined): void;
}

/** A socket being watched; see {@link openConnection}. */
export interface Connection {
  /** Stops the watchdogs and the reports to the host; the socket itself is left to `close()` or `drop()`. */
  stop(): void;
  /** After `stop()`: closes the socket with 1000; resolves once it has closed (`undefined` when it already had). */
  close(): Promise<void> | undefined;
  /** Stops, and gives the socket up without waiting for its close handshake, which a dead link may never complete. */
  drop(): void;
}

/**
 * Opens `o.WebSocket` on the stream's URL at once, and throws what the WebSocket constructor throws.
 * Reports to `host` until stopped.
 */
export function openConnection(
  o: Pick<ResolvedOptions, 'url' | 'protocols' | 'WebSocket' | 'timers' | 'idleTimeoutMs' | 'connectTimeoutMs'>,
  host: ConnectionHost,
): Connection {
  const { timers, idleTimeoutMs, connectTimeoutMs } = o;
  const socket = new o.WebSocket(o.url, o.protocols) as Socket;
  let isCurrent = true;
  let openedAt: number | undefined;
  let lastFrameAt = 0;
  /** The socket error's message, for the close that follows. */
  let error: string | undefined;
  /** What the snapshot being received holds so far; `null` once its `snapshot_end` has arrived. */
  let snapshot: { envelopes: Envelope[]; stale: SourceStatus[] } | null = { envelopes: [], stale: [] };
  let idleCheck: { readonly handle: unknown } | null = null;
  let connectTimer: { readonly handle: unknown } | null = null;

  const stopConnectTimer = (): void => {
    if (connectTimer) timers.clearTimeout(connectTimer.handle);
    connectTimer = null;
  };
  const stop = (): void => {
    isCurrent = false;
    if (idleCheck) timers.clearTimeout(idleCheck.handle);
    idleCheck = null;
    stopConnectTimer();
  };
  const dropped = (code: number, detail: string | undefined): void => {
    stop();
    host.dropped(code, detail, openedAt);
  };

  /**
   * One timer per open connection, not reset by every frame: when it fires it compares the time of the
   * last frame with the limit and either schedules itself for the remainder or gives the socket up.
   */
  const scheduleIdleCheck = (ms: number): void => {
    if (idleTimeoutMs === 0) return;
    const handle = timers.setTimeout(() => {
      idleCheck = null;
      if (!isCurrent) return;
      const silentMs = timers.now() - lastFrameAt;
      if (silentMs < idleTimeoutMs) {
        scheduleIdleCheck(idleTimeoutMs - silentMs);
        return;
      }
      // Its close handshake may never complete on a dead link: stop listening to it and reconnect now.
      socket.onclose = null;
      socket.onmessage = null;
      socket.close();
      dropped(1006, `no data for ${Math.round(silentMs / 1000)} s`);
    }, ms);
    idleCheck = { handle };
  };

  const receive = (text: string): void => {
    let packet: ServerPacket;
    try {
      packet = parsePacket(text);
    } catch {
      return; // not one JSON object: nothing to use
    }
    const held = snapshot;
    if (ENVELOPE_TYPES.includes(packet.type as EnvelopeType)) {
      const envelope = packet as Envelope;
      if (held !== null)
        held.envelopes.push(envelope); // held until snapshot_end, then applied at once
      else host.envelope(envelope);
    } else if (packet.type === 'source_status') {
      if (held !== null) held.stale.push(packet.data);
      else host.sourceStatus(packet.data);
    } else if (packet.type === 'snapshot_end') {
      snapshot = null;
      host.snapshot(held?.envelopes ?? [], held?.stale ?? [], () => isCurrent);
    } else if (packet.type === 'error' || packet.type === 'status') {
      host.serverStatus(packet);
    }
    // `heartbeat` is only proof of life (lastFrameAt is already updated); unknown types are ignored.
  };

  if (connectTimeoutMs !== 0) {
    const handle = timers.setTimeout(() => {
      connectTimer = null;
      if (!isCurrent) return;
      // A server that accepts TCP but never answers the upgrade: give the attempt up and retry.
      socket.onclose = null;
      socket.onmessage = null;
      socket.onopen = null;
      socket.close();
      dropped(1006, `no handshake answer within ${Math.round(connectTimeoutMs / 1000)} s`);
    }, connectTimeoutMs);
    connectTimer = { handle };
  }
  socket.onopen = () => {
    if (!isCurrent) return;
    stopConnectTimer();
    openedAt = lastFrameAt = timers.now();
    scheduleIdleCheck(idleTimeoutMs);
    host.opened();
  };
  socket.onmessage = (event) => {
    if (!isCurrent) return; // a frame after close(), or on a socket given up
    lastFrameAt = timers.now();
    if (typeof event.data === 'string') receive(event.data);
  };
  // Always set, even on a socket being closed: ws throws an 'error' that nobody listens to.
  socket.onerror = (event) => {
    // Browsers give no detail, not even a refused handshake's HTTP status; ws says e.g. "Unexpected server response: 401".
    const message = event?.message;
    if (isCurrent && typeof message === 'string' && message) error = message;
  };
  socket.onclose = (event) => {
    if (isCurrent) dropped(event.code, event.reason || error);
  };

  return {
    stop,
    close() {
      if (socket.readyState === CLOSED) return undefined;
      const closed = new Promise<void>((resolve) => {
        socket.onclose = () => resolve();
      });
      socket.close(1000);
      return closed;
    },
    drop() {
      stop();
      socket.onclose = null;
      socket.onmessage = null;
      socket.onopen = null;
      if (socket.readyState !== CLOSED) socket.close(1000);
    },
  };
}

/**
 * A browser cannot see why a handshake failed. Asks the snapshot endpoint (`authCheckUrl`, a HEAD request
 * with the key in `x-api-key`), which answers in plain HTTP with the same authentication, and calls
 * `onRefused` with its status if that is 400, 401 or 403. Any other status, a request that fails (the
 * server is down), or no `authCheckUrl` or `fetch` calls nothing.
 */
export function checkRefusal(o: Pick<ResolvedOptions, 'authCheckUrl' | 'fetch' | 'apiKey'>, onRefused: (status: number) => void): void {
  const { authCheckUrl, fetch, apiKey } = o;
  if (authCheckUrl === null || fetch === undefined) return;
  const headers: Record<string, string> = apiKey === undefined ? {} : { 'x-api-key': apiKey };
  fetch(authCheckUrl, { method: 'HEAD', headers, cache: 'no-store', credentials: 'same-origin' }).then(
    ({ status }) => {
      if (status === 400 || status === 401 || status === 403) onRefused(status);
    },
    () => {}, // the server is down: the retry goes on
  );
}
