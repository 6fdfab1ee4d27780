import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

interface KeyWindow<T> {
  hasPending: boolean;
  pending: T | undefined;
  action: Subscription;
}

/**
 * Throttles each key on its own: the first value of a quiet key is emitted at once and opens a window
 * of `windowMs`; values of that key inside the window replace each other, and the latest is emitted when
 * the window ends (which opens the next window). A key whose window ends with nothing pending is forgotten,
 * so memory holds only keys active in the last window. Values whose key is `null` pass straight through.
 *
 * Unlike `auditTime`, a quiet key is never delayed, and unlike one global throttle, a busy key cannot
 * starve the others. Each replaced value is reported to `onConflated`. Pending values are emitted before
 * completing and dropped on error or unsubscription. `windowMs` 0 returns the source unchanged.
 *
 * A value for which `isUrgent` holds (a change that must not wait, such as a container's new status) is
 * emitted at once even inside its key's window: the value pending for that key is older, so it is
 * dropped (reported to `onConflated`) rather than emitted after it, and a new window opens. Within a key,
 * values are therefore always emitted in the order they arrived, and the last one always is.
 */
export function throttleByKey<T>(
  keyOf: (value: T) => string | null,
  windowMs: number,
  onConflated: (dropped: T) => void = () => {},
  isUrgent: (value: T) => boolean = () => false,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, T> {
  if (windowMs <= 0) return (source) => source;
  return (source) =>
    new Observable<T>((subscriber) => {
      const windows = new Map<string, KeyWindow<T>>();

      const openWindow = (key: string, window: KeyWindow<T>): void => {
        window.action = scheduler.schedule(() => endWindow(key, window), windowMs);
      };
      const endWindow = (key: string, window: KeyWindow<T>): void => {
        if (!window.hasPending) {
          windows.delete(key);
          return;
        }
        const value = window.pending as T;
        window.hasPending = false;
        window.pending = undefined;
        openWindow(key, window);
        subscriber.next(value);
      };

      const subscription = source.subscribe({
        next(value) {
          const key = keyOf(value);
          if (key === null) return subscriber.next(value);
          const window = windows.get(key);
          if (window === undefined) {
            const fresh = { hasPending: false, pending: undefined, action: null as unknown as Subscription };
            windows.set(key, fresh);
            openWindow(key, fresh);
            return subscriber.next(value);
          }
          if (window.hasPending) onConflated(window.pending as T);
          if (isUrgent(value)) {
            window.action.unsubscribe();
            window.hasPending = false;
            window.pending = undefined;
            openWindow(key, window);
            return subscriber.next(value);
          }
          window.hasPending = true;
          window.pending = value;
        },
        error: (err: unknown) => subscriber.error(err),
        complete() {
          for (const window of windows.values()) {
            window.action.unsubscribe();
            if (window.hasPending) subscriber.next(window.pending as T);
          }
          windows.clear();
          subscriber.complete();
        },
      });

      return () => {
        subscription.unsubscribe();
        for (const window of windows.values()) window.action.unsubscribe();
        windows.clear();
      };
    });
}
