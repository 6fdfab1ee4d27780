import { Observable, type OperatorFunction } from 'rxjs';

/**
 * A producer may publish an array of envelopes in one message. Emits each member of an array in order
 * and passes anything else through. Drops an empty array or one with more than `maxItems` members
 * whole, reporting it to `onInvalid`. Never errors by itself; completes and errors with the source.
 */
export function splitBatch(maxItems: number, onInvalid: (length: number) => void): OperatorFunction<unknown, unknown> {
  return (source) =>
    new Observable<unknown>((subscriber) =>
      source.subscribe({
        next(value) {
          if (!Array.isArray(value)) return subscriber.next(value);
          if (value.length === 0 || value.length > maxItems) return onInvalid(value.length);
          for (const item of value) subscriber.next(item);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}
