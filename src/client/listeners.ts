// The listeners of a StreamManager's events, and the async iterator that reads its envelopes through
// them. Browser-safe.
import type { Envelope } from '../protocol/wire.js';
import type { StreamSubscription } from './types.js';

/** The event that every envelope is also passed under, for `subscribe()`: no event of the map has this name. */
export const ANY_ENVELOPE = '';

/** Listeners by event name; see {@link createListeners}. */
export interface Listeners {
  /** Adds `listener`; returns a function that removes it. */
  on(event: string, listener: (value: never) => void): () => void;
  /** Calls the listeners of `event` (those added when it starts) with `value`. */
  emit(event: string, value: unknown): void;
}

/** No listeners yet. A listener that throws is reported like an uncaught error and stops nothing. */
export function createListeners(): Listeners {
  const byEvent = new Map<string, Set<(value: never) => void>>();
  return {
    on(event, listener) {
      let listeners = byEvent.get(event);
      if (!listeners) byEvent.set(event, (listeners = new Set()));
      const set = listeners;
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    },
    emit(event, value) {
      const listeners = byEvent.get(event);
      if (!listeners) return;
      for (const listener of [...listeners]) {
        try {
          (listener as (value: unknown) => void)(value);
        } catch (error) {
          // One failing listener must not starve the others or break the manager; report it like an uncaught error.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    },
  };
}

/**
 * Iterates over the envelopes `subscribe` passes from now on, buffering those not read yet. Ends only when
 * the loop is left (`break`, `return` or a throw), which unsubscribes.
 */
export function iterateEnvelopes(subscribe: (next: (envelope: Envelope) => void) => StreamSubscription): AsyncIterableIterator<Envelope> {
  const buffered: Envelope[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  const subscription = subscribe((envelope) => {
    buffered.push(envelope);
    wake?.();
  });
  const iterator: AsyncIterableIterator<Envelope> = {
    async next() {
      while (!done && buffered.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return done ? { done: true, value: undefined } : { done: false, value: buffered.shift() as Envelope };
    },
    async return() {
      done = true;
      buffered.length = 0;
      subscription.unsubscribe();
      wake?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
