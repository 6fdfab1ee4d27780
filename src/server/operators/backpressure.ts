import { Observable, type Observer, type OperatorFunction, type Subscriber, type Subscription, type Unsubscribable } from 'rxjs';

/**
 * Options of {@link backpressure}. The operator calls every member on this object, as `options.isBlocked()`
 * and so on (never detached), each time it needs it: a class instance whose prototype methods read its own
 * state, such as one client's connection, can be its own options without a closure per member.
 */
export interface BackpressureOptions<T> {
  /** Whether the consumer cannot take more now (its socket buffer is full, or its rate budget is spent). */
  isBlocked(): boolean;
  /** A shared ticker; subscribed to only while values are held, to retry delivery. */
  readonly drain$: Observable<unknown>;
  /** Values with the same key replace each other while held; `null` values are never replaced. */
  conflationKey(value: T): string | null;
  /** Most values held at once. Past it the oldest replaceable value is dropped; with none, `onOverflow` runs. */
  readonly maxHeld: number;
  /** Called with each value replaced or dropped while held. */
  onConflated?(value: T): void;
  /** Called when only never-replaced values are held and there are more than `maxHeld`; they are all dropped. */
  onOverflow?(): void;
}

/**
 * Per client: passes each batch on as it is while the consumer keeps up. While it is blocked, holds
 * what arrives, keeping only the latest value per conflation key (in order of last update), and emits
 * everything held as one batch at the first `drain$` tick at which it is no longer blocked.
 * Memory is bounded by `maxHeld`. Emits held values before completing if not blocked; drops them on
 * error or unsubscription.
 *
 * `options` is read on each call rather than destructured, so an object with prototype methods (one
 * per client) can serve as its own options without a closure per method.
 */
export function backpressure<T>(options: BackpressureOptions<T>): OperatorFunction<readonly T[], readonly T[]> {
  return (source) =>
    new Observable<readonly T[]>((subscriber) => {
      const state = new HoldingObserver(subscriber, options);
      state.source = source.subscribe(state);
      return state;
    });
}

/**
 * The per-subscription state of {@link backpressure}, as one object with prototype methods: with
 * thousands of clients, a closure per method and per client would cost more memory than the socket.
 */
class HoldingObserver<T> implements Observer<readonly T[]>, Unsubscribable {
  source: Subscription | null = null;
  // Created on first use: most clients never fall behind.
  #held: Map<string, T> | null = null;
  #unique = 0;
  #draining: Subscription | null = null;

  constructor(
    private readonly out: Subscriber<readonly T[]>,
    private readonly options: BackpressureOptions<T>,
  ) {}

  next(batch: readonly T[]): void {
    const blocked = this.options.isBlocked();
    if (this.#held === null || this.#held.size === 0) {
      if (!blocked) return this.out.next(batch);
    }
    this.#hold(batch);
    if (!blocked && this.#held !== null && this.#held.size > 0) this.#release(); // caught up since the last tick: keep order, send now
  }

  error(err: unknown): void {
    this.out.error(err);
  }

  complete(): void {
    if (this.#held !== null && this.#held.size > 0 && !this.options.isBlocked()) this.#release();
    this.out.complete();
  }

  unsubscribe(): void {
    this.source?.unsubscribe();
    this.#stopDraining();
    this.#held = null;
  }

  #hold(batch: readonly T[]): void {
    const held = (this.#held ??= new Map());
    const { conflationKey, maxHeld } = this.options;
    for (const value of batch) {
      const key = conflationKey.call(this.options, value);
      if (key === null) {
        held.set(`\0${this.#unique++}`, value);
      } else {
        const previous = held.get(key);
        if (previous !== undefined) {
          held.delete(key); // re-insert at the end: order of last update
          this.options.onConflated?.(previous);
        }
        held.set(key, value);
      }
      if (held.size > maxHeld && !this.#dropOldestReplaceable(held)) {
        held.clear();
        this.options.onOverflow?.();
        return;
      }
    }
    this.#draining ??= this.options.drain$.subscribe(() => this.#tick());
  }

  #tick(): void {
    if (this.#held === null || this.#held.size === 0) this.#stopDraining();
    else if (!this.options.isBlocked()) this.#release();
  }

  #release(): void {
    this.#stopDraining();
    const held = this.#held as Map<string, T>;
    const batch = [...held.values()];
    held.clear();
    this.out.next(batch);
  }

  #stopDraining(): void {
    this.#draining?.unsubscribe();
    this.#draining = null;
  }

  #dropOldestReplaceable(held: Map<string, T>): boolean {
    for (const [key, value] of held) {
      if (key.charCodeAt(0) === 0) continue; // never-replaced values have "\0"-prefixed keys
      held.delete(key);
      this.options.onConflated?.(value);
      return true;
    }
    return false;
  }
}
