import { Observable, type OperatorFunction } from 'rxjs';

/** Why a raw Redis message was dropped before validation. @public */
export type ParseFailure = 'too_large' | 'not_json';

/**
 * Parses each raw message as JSON. Drops messages over `maxBytes` (before decoding them) and
 * unparsable ones (including nesting too deep for the parser), reporting each to `onInvalid`.
 * Never errors by itself; completes and errors with the source.
 */
export function parseJson(
  maxBytes: number,
  onInvalid: (reason: ParseFailure, byteLength: number) => void,
): OperatorFunction<Buffer | string, unknown> {
  return (source) =>
    new Observable<unknown>((subscriber) =>
      source.subscribe({
        next(raw) {
          const byteLength = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
          if (byteLength > maxBytes) return onInvalid('too_large', byteLength);
          let value: unknown;
          try {
            value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
          } catch {
            return onInvalid('not_json', byteLength);
          }
          subscriber.next(value);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}
