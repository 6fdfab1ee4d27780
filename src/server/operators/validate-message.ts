import type { ErrorObject, ValidateFunction } from 'ajv';
import { filter, type OperatorFunction } from 'rxjs';

/**
 * Passes values that `validate` accepts and drops the rest, reporting each drop to `onInvalid`.
 * Never errors or completes by itself. `validate` is compiled once per process.
 */
export function validateMessage<T>(
  validate: ValidateFunction<T>,
  onInvalid: (errors: readonly ErrorObject[], value: unknown) => void,
): OperatorFunction<unknown, T> {
  return filter((value): value is T => {
    if (validate(value)) return true;
    onInvalid(validate.errors ?? [], value); // read now: the next call to validate() overwrites errors
    return false;
  });
}
