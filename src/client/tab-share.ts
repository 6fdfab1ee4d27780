// One connection for all tabs of a browser: the tab holding a Web Lock is the leader and the only one with a
// WebSocket; it passes what it receives to the other tabs over a BroadcastChannel. Loaded by StreamManager
// with a dynamic import only when `shareAcrossTabs` is on, so apps that do not share never load it.
// Browser-safe: no imports at all.
import type { Envelope, SourceStatus } from '../protocol/wire.js';
import type { StreamStatus } from './types.js';

/** What the leader tells the other tabs: the same things its own listeners see. */
export type LeaderEvent =
  | { readonly t: 'state'; readonly status: StreamStatus }
  | { readonly t: 'snapshot'; readonly envelopes: readonly Envelope[]; readonly stale: readonly SourceStatus[] }
  | { readonly t: 'envelope'; readonly envelope: Envelope }
  | { readonly t: 'source'; readonly status: SourceStatus };

/** What a follower may ask the leader: to connect (its `connect()` was called), or to resume (its page became visible). */
export type Wake = 'connect' | 'visible';

type ChannelMessage =
  | { readonly k: 'event'; readonly e: LeaderEvent }
  | { readonly k: 'hello'; readonly from: string }
  | { readonly k: 'sync'; readonly to: string; readonly events: readonly LeaderEvent[] }
  | { readonly k: 'wake'; readonly why: Wake }
  | { readonly k: 'visible?'; readonly from: string }
  | { readonly k: 'visible!'; readonly to: string };

/** The manager's side of the sharing. */
export interface TabHost {
  /** This tab holds the lock now: it must open the connection. Called at most once. */
  lead(): void;
  /** An event from the leader (this tab is a follower). */
  follow(event: LeaderEvent): void;
  /** The leader's current state for a follower that joins now: its latest values, then its status. */
  sync(): readonly LeaderEvent[];
  /** A follower's request (this tab is the leader). */
  wake(why: Wake): void;
  /** Whether this tab's page is visible. */
  isVisible(): boolean;
}

/** The clock the visibility question waits with. */
export interface ShareTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The browser APIs the sharing needs (injected, so tests can stand in for them). */
export interface ShareEnvironment {
  readonly locks: Pick<LockManager, 'request'>;
  readonly BroadcastChannel: new (name: string) => Pick<BroadcastChannel, 'postMessage' | 'close' | 'onmessage'>;
  readonly timers: ShareTimers;
  readonly random: () => number;
}

/** A tab's membership; see {@link joinTabs}. */
export interface TabShare {
  /** Whether this tab holds the lock. */
  readonly isLeader: boolean;
  /** Leader: passes an event to every other tab. */
  broadcast(event: LeaderEvent): void;
  /** Follower: asks the leader to connect or resume. */
  ask(why: Wake): void;
  /** Leader: asks whether another tab's page is visible; `callback(false)` when none answers within `timeoutMs`. */
  askVisible(timeoutMs: number, callback: (isAnyVisible: boolean) => void): void;
  /** Leaves: stops listening and releases (or stops waiting for) the lock, so that another tab takes over. Idempotent. */
  leave(): void;
}

/**
 * A short name for what the tabs share: tabs share a connection only with the same URL, types and key.
 * A hash, so that the key never appears in lock or channel names (which `navigator.locks.query()` lists).
 */
export function shareName(url: string, protocols: readonly string[]): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const text = `${url} ${protocols.join(',')}`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return `system-stream:${(h2 >>> 0).toString(36)}${(h1 >>> 0).toString(36)}`;
}

/**
 * Joins the tabs that share `name`: requests the Web Lock `name` and holds it for as long as this tab
 * is in (the browser releases it when the tab closes or crashes, and grants it to the tab that has waited
 * longest, which then calls `host.lead()`), and listens on the BroadcastChannel `name`. A tab that joins
 * says hello; the leader answers it alone with its current state.
 */
export function joinTabs(name: string, host: TabHost, env: ShareEnvironment): TabShare {
  const id = env.random().toString(36).slice(2) + Date.now().toString(36);
  const channel = new env.BroadcastChannel(name);
  const abort = new AbortController();
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let isLeader = false;
  let hasLeft = false;
  let question: { readonly handle: unknown; readonly answer: (isAnyVisible: boolean) => void } | null = null;
  const post = (message: ChannelMessage): void => {
    if (!hasLeft) channel.postMessage(message);
  };

  env.locks
    .request(name, { signal: abort.signal }, () => {
      if (hasLeft) return undefined; // granted as it left: release at once
      isLeader = true;
      host.lead();
      return held;
    })
    .catch(() => {}); // AbortError: it left while waiting

  channel.onmessage = (event: MessageEvent<ChannelMessage>) => {
    const m = event.data;
    if (hasLeft || typeof m !== 'object' || m === null) return;
    if (isLeader) {
      if (m.k === 'hello') post({ k: 'sync', to: m.from, events: host.sync() });
      else if (m.k === 'wake') host.wake(m.why);
      else if (m.k === 'visible!' && m.to === id && question) {
        const { handle, answer } = question;
        question = null;
        env.timers.clearTimeout(handle);
        answer(true);
      }
    } else if (m.k === 'event') {
      host.follow(m.e);
    } else if (m.k === 'sync' && m.to === id) {
      for (const e of m.events) host.follow(e);
    } else if (m.k === 'visible?' && host.isVisible()) {
      post({ k: 'visible!', to: m.from });
    }
  };
  post({ k: 'hello', from: id });

  return {
    get isLeader() {
      return isLeader;
    },
    broadcast(e) {
      if (isLeader) post({ k: 'event', e });
    },
    ask(why) {
      if (!isLeader) post({ k: 'wake', why });
    },
    askVisible(timeoutMs, callback) {
      if (question) env.timers.clearTimeout(question.handle);
      const handle = env.timers.setTimeout(() => {
        question = null;
        callback(false);
      }, timeoutMs);
      question = { handle, answer: callback };
      post({ k: 'visible?', from: id });
    },
    leave() {
      if (hasLeft) return;
      hasLeft = true;
      if (question) env.timers.clearTimeout(question.handle);
      question = null;
      abort.abort();
      release();
      channel.onmessage = null;
      channel.close();
    },
  };
}
