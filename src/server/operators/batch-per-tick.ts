import { asapScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Collects the values emitted in one turn of the event loop and emits them as one array when
 * `scheduler` next runs (a microtask by default, so the delay is under a millisecond). ioredis parses a
 * whole socket read at once, so a burst of Redis messages becomes one array, which the fan-out writes to
 * each client in one socket write: one syscall per client per burst instead of one per message.
 *
 * With `delayMs` > 0 it collects for that long after the first value instead (one shared timer, whatever
 * the number of clients), trading up to `delayMs` of latency for fewer writes when messages arrive
 * spread out. Emits pending values before completing; drops them on error or unsubscription.
 */
export function batchPerTick<T>(delayMs = 0, scheduler: SchedulerLike = asapScheduler): OperatorFunction<T, T[]> {
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let pending: T[] = [];
      let scheduled: Subscription | null = null;
      const flush = (): void => {
        scheduled = null;
        const batch = pending;
        pending = [];
        subscriber.next(batch);
      };
      const subscription = source.subscribe({
        next(value) {
          pending.push(value);
          scheduled ??= scheduler.schedule(flush, delayMs);
        },
        error: (err: unknown) => subscriber.error(err),
        complete() {
          scheduled?.unsubscribe();
          if (pending.length > 0) flush();
          subscriber.complete();
        },
      });
      return () => {
        scheduled?.unsubscribe();
        subscription.unsubscribe();
      };
    });
}
