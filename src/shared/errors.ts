/**
 * Stable error codes of {@link SystemStreamError}.
 * @public
 */
export type SystemStreamErrorCode =
  /** An option passed to `attachSystemStream` or `createSystemPublisher` is invalid. */
  | 'SST_ERR_INVALID_OPTION'
  /** A stream is already attached to this server at this path. */
  | 'SST_ERR_ALREADY_ATTACHED'
  /** The stream or publisher was closed. */
  | 'SST_ERR_CLOSED'
  /** An envelope does not match its JSON Schema. */
  | 'SST_ERR_VALIDATION'
  /** Redis could not be reached in time. */
  | 'SST_ERR_REDIS_UNAVAILABLE';

/**
 * Every error system-stream throws or rejects with. Switch on `code`, not on `message`.
 * @public
 */
export class SystemStreamError extends Error {
  /** `SystemStreamError`. */
  override readonly name: string = 'SystemStreamError';
  /** Stable code to switch on. */
  readonly code: SystemStreamErrorCode;
  /** @param options - `cause`, as for `Error`. */
  constructor(code: SystemStreamErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * One reason why a value failed its schema.
 * @public
 */
export interface ValidationIssue {
  /** JSON Pointer to the offending field, e.g. `/data/value`; empty for the whole value. */
  readonly path: string;
  /** What was expected, e.g. `must be number`. */
  readonly message: string;
}

/**
 * Thrown (or rejected with) when an envelope does not match its schema. Nothing was published.
 * @public
 */
export class SystemStreamValidationError extends SystemStreamError {
  /** `SystemStreamValidationError`. */
  override readonly name: string = 'SystemStreamValidationError';
  /** Every reason found, the first of which is also in `message`. */
  readonly issues: readonly ValidationIssue[];
  /** @param issues - every reason found; the message names the first. */
  constructor(issues: readonly ValidationIssue[]) {
    const first = issues[0];
    super('SST_ERR_VALIDATION', `Invalid envelope: ${first ? `${first.path || '(root)'} ${first.message}` : 'unknown reason'}`);
    this.issues = issues;
  }
}

/** An `SST_ERR_INVALID_OPTION` error. @internal */
export function invalidOption(message: string): SystemStreamError {
  return new SystemStreamError('SST_ERR_INVALID_OPTION', message);
}

/**
 * A short description of an option's value for an error message: strings are cut, functions, arrays
 * and objects named (never their contents). @internal
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  if (typeof value === 'bigint') return `${value}n`;
  return String(value);
}
