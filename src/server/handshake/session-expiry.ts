// The sessions whose credential can end while they are open: those accepted with a token or grant that
// expires (closed when it does), and those accepted with an API key (closed when the key is removed).
// One min-heap of deadlines and ONE timer for the whole stream, armed for the earliest deadline: no
// timer per client, and no timer at all while no session expires.
import { CloseCode } from '../../protocol/close-codes.js';
import type { Logger } from '../../shared/logger.js';

/** What a session's access depends on. */
export interface SessionCredential {
  /** The id of the API key it was accepted with (see ApiKeySet): it ends when that key is removed. */
  readonly keyId?: string;
  /** When its credential expires, in epoch milliseconds: it ends then. */
  readonly expiresAtMs?: number;
}

/** The part of a WebSocket the registry uses. */
export interface SessionSocket {
  close(code: number, reason: string): void;
  once(event: 'close', listener: () => void): unknown;
}

/** The close reason sent with {@link CloseCode.CredentialsExpired}. */
export const EXPIRED_REASON = 'credentials expired: renew and reconnect';
/** The close reason sent with {@link CloseCode.Unauthorized} to a session whose API key was removed. */
export const REVOKED_REASON = 'API key revoked';
/** Node's longest timer; a later deadline is reached in several arms. */
const MAX_TIMER_MS = 2_147_483_647;

interface Session {
  readonly socket: SessionSocket;
  readonly keyId: string | undefined;
  readonly expiresAtMs: number | undefined;
  /** Its place in the heap; -1 when it is not in it. */
  heapIndex: number;
  isOpen: boolean;
}

export interface SessionRegistry {
  /** Follows `socket` until it closes; does nothing for a credential that neither expires nor is a key. */
  track(socket: SessionSocket, credential: SessionCredential | undefined): void;
  /** Closes, with 4401, every session accepted with a key that `isAccepted` no longer accepts; returns how many. */
  revokeKeys(isAccepted: (keyId: string) => boolean): number;
  /** Sessions followed now (for tests and stats). */
  readonly size: number;
  /** Stops the timer and forgets every session (their sockets are closed by the hub). */
  close(): void;
}

/** The registry of one stream; `now` is the clock deadlines are compared with (epoch milliseconds). */
export function createSessionRegistry(
  logger: Logger,
  now: () => number = Date.now,
  onExpired: (count: number) => void = () => {},
): SessionRegistry {
  const heap: Session[] = [];
  const byKey = new Map<string, Set<Session>>();
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let timerAtMs = Infinity;

  const swap = (i: number, j: number): void => {
    const a = heap[i] as Session;
    const b = heap[j] as Session;
    heap[i] = b;
    heap[j] = a;
    b.heapIndex = i;
    a.heapIndex = j;
  };
  const deadline = (i: number): number => (heap[i] as Session).expiresAtMs as number;
  const up = (i: number): void => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (deadline(parent) <= deadline(i)) return;
      swap(i, parent);
      i = parent;
    }
  };
  const down = (i: number): void => {
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && deadline(left) < deadline(smallest)) smallest = left;
      if (right < heap.length && deadline(right) < deadline(smallest)) smallest = right;
      if (smallest === i) return;
      swap(i, smallest);
      i = smallest;
    }
  };
  const removeFromHeap = (session: Session): void => {
    const i = session.heapIndex;
    if (i < 0) return;
    const last = heap.length - 1;
    if (i !== last) swap(i, last);
    heap.pop();
    session.heapIndex = -1;
    if (i < heap.length) {
      up(i);
      down(i);
    }
  };

  const forget = (session: Session): void => {
    if (!session.isOpen) return;
    session.isOpen = false;
    size--;
    removeFromHeap(session);
    if (session.keyId !== undefined) {
      const sessions = byKey.get(session.keyId);
      sessions?.delete(session);
      if (sessions?.size === 0) byKey.delete(session.keyId);
    }
  };

  /** Arms the one timer for the earliest deadline, unless it is already armed for it. */
  const arm = (): void => {
    const next = heap.length > 0 ? deadline(0) : Infinity;
    if (next === timerAtMs) return;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    timerAtMs = next;
    if (next === Infinity) return;
    timer = setTimeout(expire, Math.min(MAX_TIMER_MS, Math.max(0, next - now())));
    timer.unref();
  };

  function expire(): void {
    timer = null;
    timerAtMs = Infinity;
    const nowMs = now();
    let expired = 0;
    while (heap.length > 0 && deadline(0) <= nowMs) {
      const session = heap[0] as Session;
      forget(session);
      expired++;
      session.socket.close(CloseCode.CredentialsExpired, EXPIRED_REASON);
    }
    if (expired > 0) {
      onExpired(expired);
      logger.debug({ event: 'sessions_expired', count: expired }, 'sessions closed: credentials expired');
    }
    arm();
  }

  return {
    track(socket, credential) {
      const keyId = credential?.keyId;
      const expiresAtMs = credential?.expiresAtMs;
      if (keyId === undefined && expiresAtMs === undefined) return;
      const session: Session = { socket, keyId, expiresAtMs, heapIndex: -1, isOpen: true };
      size++;
      socket.once('close', () => {
        forget(session);
        arm();
      });
      if (keyId !== undefined) {
        let sessions = byKey.get(keyId);
        if (sessions === undefined) byKey.set(keyId, (sessions = new Set()));
        sessions.add(session);
      }
      if (expiresAtMs !== undefined) {
        session.heapIndex = heap.length;
        heap.push(session);
        up(session.heapIndex);
        arm();
      }
    },
    revokeKeys(isAccepted) {
      let revoked = 0;
      for (const [keyId, sessions] of byKey) {
        if (isAccepted(keyId)) continue;
        for (const session of [...sessions]) {
          forget(session);
          revoked++;
          session.socket.close(CloseCode.Unauthorized, REVOKED_REASON);
        }
      }
      arm();
      return revoked;
    },
    get size() {
      return size;
    },
    close() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      timerAtMs = Infinity;
      for (const session of [...heap]) forget(session);
      for (const sessions of [...byKey.values()]) for (const session of [...sessions]) forget(session);
    },
  };
}
