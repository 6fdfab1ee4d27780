import { Observable, type OperatorFunction, type Subscription } from 'rxjs';

/** Options of {@link backpressure}. */
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
 */
export function backpressure<T>(options: BackpressureOptions<T>): OperatorFunction<readonly T[], readonly T[]> {
  const { isBlocked, drain$, conflationKey, maxHeld, onConflated, onOverflow } = options;
  return (source) =>
    new Observable<readonly T[]>((subscriber) => {
      const held = new Map<string, T>();
      let unique = 0;
      let draining: Subscription | null = null;

      const release = (): void => {
        draining?.unsubscribe();
        draining = null;
        const batch = [...held.values()];
        held.clear();
        subscriber.next(batch);
      };
      const dropOldestReplaceable = (): boolean => {
        for (const [key, value] of held) {
          if (key.charCodeAt(0) === 0) continue; // never-replaced values have "\0"-prefixed keys
          held.delete(key);
          onConflated?.(value);
          return true;
        }
        return false;
      };
      const hold = (batch: readonly T[]): void => {
        for (const value of batch) {
          const key = conflationKey(value);
          if (key === null) {
            held.set(`\0${unique++}`, value);
          } else {
            const previous = held.get(key);
            if (previous !== undefined) {
              held.delete(key); // re-insert at the end: order of last update
              onConflated?.(previous);
            }
            held.set(key, value);
          }
          if (held.size > maxHeld && !dropOldestReplaceable()) {
            held.clear();
            onOverflow?.();
            return;
          }
        }
        draining ??= drain$.subscribe(() => {
          if (held.size === 0) {
            draining?.unsubscribe();
            draining = null;
          } else if (!isBlocked()) {
            release();
          }
        });
      };

      const subscription = source.subscribe({
        next(batch) {
          const blocked = isBlocked();
          if (held.size === 0 && !blocked) return subscriber.next(batch);
          hold(batch);
          if (!blocked && held.size > 0) release(); // caught up since the last tick: keep order, send now
        },
        error: (err: unknown) => subscriber.error(err),
        complete() {
          if (held.size > 0 && !isBlocked()) release();
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        draining?.unsubscribe();
        held.clear();
      };
    });
}
