// The option kit: every entry point (attachSystemStream, createSystemPublisher, startSentinel and the
// sentinel's CLI) checks its options with these functions, so that one rule reads the same everywhere.
// Each check returns the value it accepted or throws `SST_ERR_INVALID_OPTION` naming the option, what
// was expected and what was received. Callers apply defaults first (`input.x ?? DEFAULT`), so that
// an explicit `undefined` means "the default".
//
// This file is loaded by the CLI before it parses its flags, so it imports nothing that loads a
// dependency (ioredis, ajv, systeminformation): only types and the dependency-free errors and logger.
import { describeValue, invalidOption } from './errors.js';
import { noopLogger, type Logger } from './logger.js';

/** The Redis Pub/Sub channel every producer and stream uses unless told otherwise. */
export const DEFAULT_CHANNEL = 'system:metrics';

/**
 * The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days). `setTimeout` and `setInterval`
 * turn anything longer, `Infinity` included, into 1 ms, so a "very long" interval would fire at once.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** Inclusive bounds of a numeric option. `max` defaults to the largest value the check allows. */
export interface Bounds {
  readonly min: number;
  readonly max?: number;
}

/**
 * A finite number within `min..max`. Rejects `NaN`, `Infinity` and anything that is not a number
 * (a numeric string included: options are not parsed here; the CLI parses its flags itself).
 */
export function numberOption(name: string, value: unknown, { min, max = Number.MAX_VALUE }: Bounds): number {
  return checkNumber(name, value, min, max, { isInteger: false });
}

/** An integer within `min..max` (a count, a size in bytes). */
export function integerOption(name: string, value: unknown, { min, max = Number.MAX_SAFE_INTEGER }: Bounds): number {
  return checkNumber(name, value, min, max, { isInteger: true });
}

/**
 * A duration in whole milliseconds within `min..max`, for anything that ends up in a timer. `max`
 * defaults to, and may not exceed, {@link MAX_TIMER_MS}. Where `0` means "off", the caller passes
 * `min: 0` and says so in the option's TSDoc.
 */
export function integerMs(name: string, value: unknown, { min, max = MAX_TIMER_MS }: Bounds): number {
  const hint =
    typeof value === 'number' && value > MAX_TIMER_MS ? `; Node's timers cannot wait longer than ${MAX_TIMER_MS} ms (about 24.8 days)` : '';
  return checkNumber(name, value, min, Math.min(max, MAX_TIMER_MS), { isInteger: true, unit: ' (milliseconds)', hint });
}

interface NumberRule {
  readonly isInteger: boolean;
  /** Said after the range, e.g. ` (milliseconds)`. */
  readonly unit?: string;
  /** Said after the value received: why it is refused when that is not obvious. */
  readonly hint?: string;
}

function checkNumber(name: string, value: unknown, min: number, max: number, { isInteger, unit = '', hint = '' }: NumberRule): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && (!isInteger || Number.isInteger(value)) && value >= min && value <= max;
  if (ok) return value;
  const isUnbounded = max === Number.MAX_VALUE || max === Number.MAX_SAFE_INTEGER;
  const range = isUnbounded ? `>= ${min}` : `from ${min} to ${max}`;
  throw invalidOption(
    `Expected \`${name}\` to be ${isInteger ? 'an integer' : 'a finite number'} ${range}${unit}, got ${describeValue(value)}${hint}`,
  );
}

/** A non-empty string (a channel, a name). */
export function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalidOption(`Expected \`${name}\` to be a non-empty string, got ${describeValue(value)}`);
  }
  return value;
}

/** A boolean, or `fallback` when the option is left out. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(`Expected \`${name}\` to be true or false, got ${describeValue(value)}`);
  return value;
}

/**
 * One channel or a list of them: a non-empty string, or a non-empty array of distinct non-empty strings.
 * Returns the list (one element for a single channel), frozen.
 */
export function channelList(name: string, value: unknown): readonly string[] {
  if (typeof value === 'string' && value.length > 0) return Object.freeze([value]);
  if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string' || v.length === 0)) {
    throw invalidOption(`Expected \`${name}\` to be a non-empty string or a non-empty array of them, got ${describeValue(value)}`);
  }
  const channels = value as string[];
  const repeated = channels.find((c, i) => channels.indexOf(c) !== i);
  if (repeated !== undefined)
    throw invalidOption(`Expected the channels in \`${name}\` to be distinct, got ${describeValue(repeated)} twice`);
  return Object.freeze([...channels]);
}

/** One of `allowed`, compared exactly. */
export function oneOf<const T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw invalidOption(`Expected \`${name}\` to be one of ${allowed.join(', ')}, got ${describeValue(value)}`);
  }
  return value as T;
}

/**
 * A frozen copy of an array of non-empty strings, or `undefined` when the option is left out. The
 * message never repeats an element: lists such as `apiKeys` hold secrets.
 */
export function stringList(name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) {
    throw invalidOption(`Expected \`${name}\` to be an array of non-empty strings`);
  }
  return Object.freeze([...(value as string[])]);
}

/** A function, or `undefined` when the option is left out. */
export function functionOption<F extends (...args: never[]) => unknown>(name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw invalidOption(`Expected \`${name}\` to be a function, got ${describeValue(value)}`);
  }
  return value;
}

/** The `logger` option: a pino-compatible logger, or the silent {@link noopLogger} when left out. */
export function loggerOption(value: unknown): Logger {
  if (value === undefined) return noopLogger;
  const methods = value as Partial<Record<keyof Logger, unknown>> | null;
  if (
    typeof value !== 'object' ||
    methods === null ||
    !(['debug', 'info', 'warn', 'error'] as const).every((m) => typeof methods[m] === 'function')
  ) {
    throw invalidOption('Expected `logger` to have debug, info, warn and error methods (pino-compatible)');
  }
  return value as Logger;
}

/**
 * The option names an entry takes, as an object with one `true` per name: written that way, the
 * compiler fails when a name is added to the options interface but not here (or the other way round),
 * so a new option can never be refused as unknown.
 */
export type OptionNames<T> = { readonly [K in keyof Required<T>]: true };

/**
 * Checks that `input` is an options object (or left out) and that it names only options in `known`.
 * An unknown name is refused with the closest known one, because a typo would otherwise fall back
 * silently to a default (`maxClient` leaving `maxClients` at 100, `redsi` connecting to localhost).
 * @param what - the entry point, for the message: `attachSystemStream`
 */
export function optionsObject<T extends object>(input: T | undefined, known: OptionNames<T>, what: string): T {
  if (input === undefined) return {} as T;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidOption(`Expected the options of ${what} to be an object, got ${describeValue(input)}`);
  }
  refuseUnknownKeys(input, Object.keys(known), what);
  return input;
}

/** Throws `SST_ERR_INVALID_OPTION` for the first own key of `input` that is not in `known`, suggesting the closest known one. */
export function refuseUnknownKeys(input: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(input)) {
    if (known.includes(key)) continue;
    const shown = key.length > 40 ? `${key.slice(0, 40)}…` : key;
    const suggestion = closestName(key, known);
    throw invalidOption(
      suggestion === undefined
        ? `Unknown option \`${shown}\` of ${what}; it takes ${known.map((k) => `\`${k}\``).join(', ')}`
        : `Unknown option \`${shown}\` of ${what}; did you mean \`${suggestion}\`?`,
    );
  }
}

/**
 * The known name closest to `name` when it is close enough to be a typo: a case-insensitive edit
 * distance (with transpositions) of at most a third of the name's length, and at least 1.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/**
 * Damerau-Levenshtein distance (optimal string alignment): insertions, deletions, substitutions and
 * swaps of two neighbours each count 1. Names are short, so the full table is cheap.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = Array.from({ length: rows * cols }, (_, i) => (i < cols ? i : i % cols === 0 ? i / cols : 0));
  const at = (i: number, j: number): number => d[i * cols + j]!;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      d[i * cols + j] = value;
    }
  }
  return at(rows - 1, cols - 1);
}
