// What a client receives before live data (its snapshot or backfill, the Redis state), one chunk at a time.
import { chunksOf, type Delivery } from './delivery.js';

/**
 * Packets a client receives before live data (its snapshot or backfill, the Redis state), produced one
 * chunk at a time as its socket drains. A `?since=` backfill (`Backfill`, in state/backfill.ts) is one:
 * it gathers its packets when first asked (`isStarted` false until then), which the hub allows only to a
 * few clients at once.
 */
export interface InitialSource {
  /** Whether its packets are gathered: `false` until the first `next()`, which may cost (a backfill). */
  readonly isStarted: boolean;
  /** The next chunk, or `null` when all has been handed out; an empty chunk while it is still preparing (call again). */
  next(): readonly Delivery[] | null;
  /**
   * One slice of the work that needs no socket (a backfill gathering its packets, or sifting them after a
   * cut); returns whether none is left. Done by `next()` too.
   */
  prepare(): boolean;
  /** Makes what is left smaller because the client cannot take it all (a backfill keeps each key's latest). */
  cut(): void;
  /**
   * Says that live packets held for the client while this goes out were dropped, so a backfill's end must
   * not say `complete: true`. Optional: a snapshot makes no such claim.
   */
  markIncomplete?(): void;
  /** Lets go of what it holds. */
  close(): void;
}

/** A batch built once for many clients (the snapshot): its shared chunks, one at a time. */
export class SharedChunks implements InitialSource {
  readonly isStarted = true;
  #chunks: readonly (readonly Delivery[])[];
  #next = 0;

  constructor(batch: readonly Delivery[]) {
    this.#chunks = chunksOf(batch);
  }

  next(): readonly Delivery[] | null {
    return this.#chunks[this.#next++] ?? null;
  }

  prepare(): boolean {
    return true;
  }

  cut(): void {}

  close(): void {
    this.#chunks = [];
  }
}

/** What the hub gets from the handshake: a batch (built once, shared) or a source built for this client. */
export type Initial = readonly Delivery[] | InitialSource;

/** Whether a chunk of the initial packets went out (or was prepared), the socket is full, or nothing is left to send. */
export type InitialProgress = 'sent' | 'full' | 'done';
