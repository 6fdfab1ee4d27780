// One WebSocket of a StreamManager, from its handshake to its close: the two watchdogs (no handshake
// answer within `connectTimeoutMs`, no frame at all for `idleTimeoutMs`), the frames read as packets, the
// snapshot held until its `snapshot_end`, and the question why a handshake failed. What a close means
// (retry, give up, wait for the network) is the link's to decide (link.ts). Browser-safe.
//
// A frame is never trusted: whatever the server sends (not JSON, a known type without its fields, a binary
// or oversized frame, a second snapshot_end, a snapshot that never ends), nothing here throws and nothing
// grows without bound; what is not used as sent is reported to the host (`discarded`).
import {
  ENVELOPE_TYPES,
  type Envelope,
  type EnvelopeType,
  type ErrorPacket,
  type ServerPacket,
  type SourceStatus,
  type SourceStatusPacket,
  type StatusPacket,
} from '../protocol/wire.js';
import { parsePacket } from '../protocol/parse-packet.js';
import type { ResolvedOptions } from './client-options.js';
import type { StreamDiscard } from './types.js';
import type { WebSocketLike } from './environment.js';

// The socket with the handlers the manager sets; both the browser's WebSocket and ws's have them.
interface Socket extends WebSocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

const CLOSED = 3;

/**
 * Longest text frame read, in UTF-16 code units (1 Mi): a server frame holds one packet, and the largest
 * envelope a server accepts is far smaller. Longer frames are dropped unread.
 */
export const MAX_FRAME_CHARS = 1 << 20;
/**
 * Most packets (envelopes and `source_status`) held for one snapshot before its `snapshot_end`: the server's
 * default snapshot (10,000 keys) plus its default history (100,000 values) for a `since` backfill.
 */
export const MAX_SNAPSHOT_PACKETS = 110_000;
/** Most text (UTF-16 code units of the frames, 32 Mi) held for one snapshot before its `snapshot_end`. */
export const MAX_SNAPSHOT_CHARS = 32 << 20;

/** Why a connection did not use a frame as sent: see {@link StreamDiscard}. */
export type DiscardReason = StreamDiscard['reason'];

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
  /** A frame was not used as sent; `detail` describes it without quoting it. */
  discarded?(reason: DiscardReason, detail: string): void;
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
  /** What the snapshot being received holds so far (and its frames' length); `null` once applied. */
  let snapshot: { envelopes: Envelope[]; stale: SourceStatus[]; chars: number } | null = { envelopes: [], stale: [], chars: 0 };
  /** Whether the snapshot was applied before its `snapshot_end` arrived (cut at a bound): that marker is then expected once more. */
  let isCut = false;
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

  const discard = (reason: DiscardReason, detail: string): void => host.discarded?.(reason, detail);

  const receive = (text: string): void => {
    if (text.length > MAX_FRAME_CHARS) return discard('malformed', `a frame over ${MAX_FRAME_CHARS} characters`);
    let packet: ServerPacket;
    try {
      packet = parsePacket(text);
    } catch (error) {
      // parsePacket's TypeErrors name a field; a SyntaxError's message quotes the frame: say only that it was not JSON.
      return discard('malformed', error instanceof TypeError ? error.message : 'not JSON');
    }
    const isEnvelope = ENVELOPE_TYPES.includes(packet.type as EnvelopeType);
    const held = snapshot;
    if (held !== null && (isEnvelope || packet.type === 'source_status')) {
      if (held.envelopes.length + held.stale.length < MAX_SNAPSHOT_PACKETS && held.chars + text.length <= MAX_SNAPSHOT_CHARS) {
        held.chars += text.length;
        if (isEnvelope)
          held.envelopes.push(packet as Envelope); // held until snapshot_end, then applied at once
        else held.stale.push((packet as SourceStatusPacket).data);
        return;
      }
      // No end in sight: apply what came as the snapshot, and pass the rest on as it comes.
      snapshot = null;
      isCut = true;
      host.snapshot(held.envelopes, held.stale, () => isCurrent);
      discard('snapshot_cut', `a snapshot over ${MAX_SNAPSHOT_PACKETS} packets or ${MAX_SNAPSHOT_CHARS} characters`);
      if (!isCurrent) return;
    }
    if (isEnvelope) {
      host.envelope(packet as Envelope);
    } else if (packet.type === 'source_status') {
      host.sourceStatus(packet.data);
    } else if (packet.type === 'snapshot_end') {
      if (held !== null) {
        snapshot = null;
        host.snapshot(held.envelopes, held.stale, () => isCurrent);
      } else if (isCut) {
        isCut = false; // the end of the snapshot that was cut: already applied
      } else {
        discard('out_of_order', 'a second snapshot_end');
      }
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
    if (typeof event.data !== 'string') return discard('malformed', 'a binary frame');
    try {
      receive(event.data);
    } catch (error) {
      // Nothing above should throw; if it does, one frame is lost, never the host process (ws rethrows
      // what a handler throws as an uncaught exception in Node).
      discard('malformed', String(error));
    }
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
 * with the key in `x-api-key`), which answers in plain HTTP with the same authentication and the same
 * filters, and calls `onRefused` with its status if that is 400, 401 or 403. Any other status, a request
 * that fails (the server is down), or no `authCheckUrl` or `fetch` calls nothing.
 */
export function checkRefusal(
  o: Pick<ResolvedOptions, 'url' | 'authCheckUrl' | 'fetch' | 'apiKey'>,
  onRefused: (status: number) => void,
): void {
  const { authCheckUrl, fetch, apiKey } = o;
  if (authCheckUrl === null || fetch === undefined) return;
  const headers: Record<string, string> = apiKey === undefined ? {} : { 'x-api-key': apiKey };
  fetch(withFilters(authCheckUrl, o.url), { method: 'HEAD', headers, cache: 'no-store', credentials: 'same-origin' }).then(
    ({ status }) => {
      if (status === 400 || status === 401 || status === 403) onRefused(status);
    },
    () => {}, // the server is down: the retry goes on
  );
}

/**
 * `checkUrl` with the filters of the stream's URL (`types`, `source`, `metric_type`) that it does not name
 * itself, so that a handshake refused for its `source` or `metric_type` (400) is refused by the check too,
 * and ends instead of being retried. Both are absolute URLs (see client-options.ts).
 */
function withFilters(checkUrl: string, streamUrl: string): string {
  const check = new URL(checkUrl);
  const { searchParams } = new URL(streamUrl);
  for (const name of ['types', 'source', 'metric_type']) {
    if (!check.searchParams.has(name)) for (const value of searchParams.getAll(name)) check.searchParams.append(name, value);
  }
  return check.href;
}
