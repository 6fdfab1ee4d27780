import type { StreamManagerTimers } from '../../src/client/environment.js';

/**
 * StreamManager timers that hold every wait until the test releases it, while the clock stays real: a
 * reconnect then happens exactly when the test says, and everything else (Redis, servers, sockets) runs
 * for real. `waits` records what each wait asked for.
 */
export class ManualTimers implements StreamManagerTimers {
  readonly waits: number[] = [];
  readonly #pending = new Map<number, () => void>();
  #next = 0;
  setTimeout(callback: () => void, ms: number): unknown {
    this.waits.push(ms);
    this.#pending.set(++this.#next, callback);
    return this.#next;
  }
  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }
  now(): number {
    return Date.now();
  }
  get pending(): number {
    return this.#pending.size;
  }
  /** Ends the one pending wait now; throws if there is not exactly one. */
  release(): void {
    if (this.#pending.size !== 1) throw new Error(`expected one pending wait, found ${this.#pending.size}`);
    const [handle, callback] = [...this.#pending][0] as [number, () => void];
    this.#pending.delete(handle);
    callback();
  }
  /** Ends every pending wait now. */
  releaseAll(): void {
    const callbacks = [...this.#pending.values()];
    this.#pending.clear();
    for (const callback of callbacks) callback();
  }
}
