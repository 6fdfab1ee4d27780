import { Observable, type OperatorFunction } from 'rxjs';

/**
 * Per client: keeps only the values this client may see. A batch whose values are all visible is
 * passed on as the same array (so its shared, already-encoded frame is reused); otherwise a filtered
 * copy is emitted, and nothing when no value is left. Never errors by itself.
 */
export function authorize<T>(canSee: (value: T) => boolean): OperatorFunction<readonly T[], readonly T[]> {
  return (source) =>
    new Observable<readonly T[]>((subscriber) =>
      source.subscribe({
        next(batch) {
          if (batch.every(canSee)) return subscriber.next(batch);
          const visible = batch.filter(canSee);
          if (visible.length > 0) subscriber.next(visible);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}
