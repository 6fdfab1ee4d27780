import { integerOption, optionsObject, type OptionNames } from '../../shared/option-kit.js';
import type { DeflateSettings } from './shared-deflate.js';

/**
 * How the stream compresses with clients that offer permessage-deflate (see `SystemStreamOptions.compression`).
 * Each group of clients that receives the same frames shares one compression context (one zlib deflate
 * stream, freed with the group's last client), reset every `resetEvery` messages.
 * @public
 */
export interface CompressionOptions {
  /**
   * zlib compression level, 1 (fastest) to 9 (smallest). A message is compressed once per group, not once
   * per client, so a higher level costs little: on ~220-byte envelopes, 6 takes 4 µs a message and 1 takes 3.
   * @defaultValue `6`
   */
  readonly level?: number | undefined;
  /**
   * Base-2 logarithm of the window, 9 to 15: how far back a message may refer to earlier ones, and the bytes
   * kept per group. A client that allows the server a smaller window gets uncompressed frames.
   * @defaultValue `12` (4 KiB)
   */
  readonly windowBits?: number | undefined;
  /**
   * zlib memLevel, 1 to 9. Each group's context takes `2 ** (windowBits + 2) + 2 ** (memLevel + 9)` bytes of
   * native memory: 24 KiB with the defaults. Higher levels index more of the window, which small JSON
   * messages do not need.
   * @defaultValue `4`
   */
  readonly memLevel?: number | undefined;
  /**
   * Messages between two resets of a group's shared context. A client that falls out of step with its group
   * (it joined, or missed messages while it was behind) gets each batch compressed on its own until the next
   * reset; fewer messages between resets bring it back sooner, more compress better.
   * @defaultValue `100`
   */
  readonly resetEvery?: number | undefined;
}

const NAMES: OptionNames<CompressionOptions> = { level: true, windowBits: true, memLevel: true, resetEvery: true };
const DEFAULTS: DeflateSettings = { level: 6, windowBits: 12, memLevel: 4, resetEvery: 100 };

/** The `compression` option: `true` (or left out) takes the defaults; `false` is off; an object overrides some. */
export function compressionOption(value: unknown): DeflateSettings | null {
  if (value === false) return null;
  if (value === undefined || value === true) return DEFAULTS;
  const input = optionsObject(value as CompressionOptions, NAMES, 'compression');
  return Object.freeze({
    level: integerOption('compression.level', input.level ?? DEFAULTS.level, { min: 1, max: 9 }),
    windowBits: integerOption('compression.windowBits', input.windowBits ?? DEFAULTS.windowBits, { min: 9, max: 15 }),
    memLevel: integerOption('compression.memLevel', input.memLevel ?? DEFAULTS.memLevel, { min: 1, max: 9 }),
    resetEvery: integerOption('compression.resetEvery', input.resetEvery ?? DEFAULTS.resetEvery, { min: 1, max: 100_000 }),
  });
}
