/** What a write round writes to: one client's socket. */
export interface RoundWriter<T> {
  write(batch: T): void;
}

/**
 * The socket writes of one broadcast, collected while every client's operators run and then made back to
 * back. Interleaving them with the per-client work costs more than the work itself: on loopback and on
 * a busy machine, each write wakes the reader, and a writer that comes back to the kernel a few
 * microseconds later pays for another wake-up (measured: 7.4 µs per write back to back, 9.4 µs with 2 µs
 * of work between writes). Per client, writes keep their order; outside a round, `defer` declines and
 * the caller writes at once (the snapshot, a drain tick, the heartbeat).
 */
export class WriteRound<T> {
  #isOpen = false;
  readonly #writers: RoundWriter<T>[] = [];
  readonly #batches: T[] = [];

  /** Runs `broadcast`, then makes the writes it deferred. A round started inside a round joins it. */
  run(broadcast: () => void): void {
    if (this.#isOpen) return broadcast();
    this.#isOpen = true;
    try {
      broadcast();
    } finally {
      this.#isOpen = false;
      this.#flush();
    }
  }

  /** Inside a round: queues the write and returns `true`. Outside one: returns `false`, writing nothing. */
  defer(writer: RoundWriter<T>, batch: T): boolean {
    if (!this.#isOpen) return false;
    this.#writers.push(writer);
    this.#batches.push(batch);
    return true;
  }

  #flush(): void {
    const writers = this.#writers;
    const batches = this.#batches;
    try {
      for (let i = 0; i < writers.length; i++) (writers[i] as RoundWriter<T>).write(batches[i] as T);
    } finally {
      writers.length = 0;
      batches.length = 0;
    }
  }
}
