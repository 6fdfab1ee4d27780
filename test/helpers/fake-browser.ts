// Stand-ins for the browser APIs StreamManager uses, driven by the test: a WebSocket, the page's
// visibility, the network, Web Locks and BroadcastChannel. None touches the network or a real timer.
import type { NetworkSource, VisibilitySource } from '../../src/client/environment.js';
import { vi } from 'vitest';

/**
 * A WebSocket stand-in that the test drives: it never touches the network. Like a real socket it
 * closes asynchronously after close() (the close event follows on a microtask).
 */
export class FakeSocket {
  static readonly instances: FakeSocket[] = [];
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: { message?: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  readonly closeCalls: Array<number | undefined> = [];

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.instances.push(this);
  }

  close(code?: number): void {
    this.closeCalls.push(code);
    if (this.readyState >= 2) return;
    this.readyState = 2;
    void Promise.resolve().then(() => this.serverClose(code ?? 1005));
  }

  // Test drivers.
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  /** Each packet as its own frame, as the server sends them; an array stands for its packets. */
  send(...packets: unknown[]): void {
    for (const packet of packets.flat()) this.onmessage?.({ data: JSON.stringify(packet) });
  }
  sendRaw(data: unknown): void {
    this.onmessage?.({ data });
  }
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  /** A refused handshake or a network failure: 'error' (with a message only in Node's ws), then close 1006. */
  fail(message?: string): void {
    this.onerror?.(message === undefined ? {} : { message });
    this.serverClose(1006);
  }

  /** Sockets not closed yet, by anyone. */
  static live(): FakeSocket[] {
    return FakeSocket.instances.filter((s) => s.readyState < 2);
  }
}

/** A page's `document` as far as visibility goes. */
export class FakeVisibility implements VisibilitySource {
  visibilityState: 'visible' | 'hidden';
  readonly #listeners = new Set<() => void>();

  constructor(state: 'visible' | 'hidden' = 'visible') {
    this.visibilityState = state;
  }

  addEventListener(_type: 'visibilitychange', listener: () => void): void {
    this.#listeners.add(listener);
  }
  removeEventListener(_type: 'visibilitychange', listener: () => void): void {
    this.#listeners.delete(listener);
  }
  get listenerCount(): number {
    return this.#listeners.size;
  }

  hide(): void {
    this.set('hidden');
  }
  show(): void {
    this.set('visible');
  }
  set(state: 'visible' | 'hidden'): void {
    this.visibilityState = state;
    for (const listener of [...this.#listeners]) listener();
  }
}

/** `navigator.onLine` with the window's `online` and `offline` events. */
export class FakeNetwork implements NetworkSource {
  onLine = true;
  readonly #listeners = { online: new Set<() => void>(), offline: new Set<() => void>() };

  addEventListener(type: 'online' | 'offline', listener: () => void): void {
    this.#listeners[type].add(listener);
  }
  removeEventListener(type: 'online' | 'offline', listener: () => void): void {
    this.#listeners[type].delete(listener);
  }
  get listenerCount(): number {
    return this.#listeners.online.size + this.#listeners.offline.size;
  }

  goOffline(): void {
    this.onLine = false;
    for (const listener of [...this.#listeners.offline]) listener();
  }
  goOnline(): void {
    this.onLine = true;
    for (const listener of [...this.#listeners.online]) listener();
  }
}

interface LockRequest {
  readonly tab: string;
  readonly callback: (lock: unknown) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

/**
 * The Web Locks API of one browser: exclusive locks granted in request order, each held until the
 * callback's promise settles, or until its tab crashes. `forTab(id)` is what one tab's `navigator.locks` is.
 */
export class FakeLocks {
  readonly #held = new Map<string, LockRequest>();
  readonly #queues = new Map<string, LockRequest[]>();

  forTab(tab: string): Pick<LockManager, 'request'> {
    return {
      request: ((name: string, options: LockOptions, callback: (lock: unknown) => unknown) =>
        new Promise<unknown>((resolve, reject) => {
          const request: LockRequest = { tab, callback, resolve, reject };
          options.signal?.addEventListener('abort', () => {
            const queue = this.#queues.get(name) ?? [];
            if (!queue.includes(request)) return; // granted already: aborting does nothing
            queue.splice(queue.indexOf(request), 1);
            reject(new DOMException('The request was aborted.', 'AbortError'));
          });
          this.#queues.set(name, [...(this.#queues.get(name) ?? []), request]);
          this.#grant(name);
        })) as LockManager['request'],
    };
  }

  /** The tab that holds `name`, if any. */
  holder(name?: string): string | undefined {
    const key = name ?? [...this.#held.keys()][0];
    return key === undefined ? undefined : this.#held.get(key)?.tab;
  }

  /** How many requests wait for a lock. */
  get waiting(): number {
    return [...this.#queues.values()].reduce((n, q) => n + q.length, 0);
  }

  /** The browser drops a crashed tab's locks and requests; its callbacks' promises never settle. */
  crash(tab: string): void {
    for (const [name, queue] of this.#queues)
      this.#queues.set(
        name,
        queue.filter((r) => r.tab !== tab),
      );
    for (const [name, request] of [...this.#held]) {
      if (request.tab !== tab) continue;
      this.#held.delete(name);
      this.#grant(name);
    }
  }

  #grant(name: string): void {
    if (this.#held.has(name)) return;
    const next = this.#queues.get(name)?.shift();
    if (!next) return;
    this.#held.set(name, next);
    queueMicrotask(() => {
      const release = (): void => {
        if (this.#held.get(name) !== next) return; // crashed meanwhile
        this.#held.delete(name);
        this.#grant(name);
      };
      Promise.resolve()
        .then(() => next.callback({ name, mode: 'exclusive' }))
        .then(
          (value) => {
            release();
            next.resolve(value);
          },
          (error: unknown) => {
            release();
            next.reject(error);
          },
        );
    });
  }
}

/**
 * BroadcastChannel within one test: a message goes, structured-cloned and on a microtask, to every other
 * open channel of the same name. `forTab(id)` gives a tab's constructor, so that a crash can close a tab's channels.
 */
export class FakeChannels {
  readonly #open = new Map<string, Set<{ tab: string; channel: { onmessage: ((event: MessageEvent) => void) | null } }>>();
  /** Every message posted, for assertions. */
  readonly posted: unknown[] = [];

  forTab(tab: string): new (name: string) => Pick<BroadcastChannel, 'postMessage' | 'close' | 'onmessage'> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const channels = this;
    return class {
      onmessage: ((event: MessageEvent) => void) | null = null;
      readonly #name: string;
      readonly #entry: { tab: string; channel: { onmessage: ((event: MessageEvent) => void) | null } };
      constructor(name: string) {
        this.#name = name;
        this.#entry = { tab, channel: this };
        const set = channels.#open.get(name) ?? new Set();
        set.add(this.#entry);
        channels.#open.set(name, set);
      }
      postMessage(message: unknown): void {
        if (!channels.#open.get(this.#name)?.has(this.#entry)) throw new DOMException('closed', 'InvalidStateError');
        channels.posted.push(message);
        for (const other of channels.#open.get(this.#name) ?? []) {
          if (other === this.#entry) continue;
          const data = structuredClone(message);
          queueMicrotask(() => {
            if (channels.#open.get(this.#name)?.has(other)) other.channel.onmessage?.({ data } as MessageEvent);
          });
        }
      }
      close(): void {
        channels.#open.get(this.#name)?.delete(this.#entry);
      }
    } as never;
  }

  /** A crashed tab's channels are gone. */
  crash(tab: string): void {
    for (const set of this.#open.values()) for (const entry of [...set]) if (entry.tab === tab) set.delete(entry);
  }

  /** How many channels are open. */
  get openCount(): number {
    return [...this.#open.values()].reduce((n, s) => n + s.size, 0);
  }
}

/** Lets `ms` pass on vitest's fake timers and reports whether a new FakeSocket was created meanwhile. */
export function advance(ms: number): boolean {
  const before = FakeSocket.instances.length;
  vi.advanceTimersByTime(ms);
  return FakeSocket.instances.length > before;
}
