// The API keys a stream accepts: checked once as an option (and again by setApiKeys), held as SHA-256
// digests, and replaceable at runtime. No import of the options module: it calls apiKeysOption().
import { createHash, timingSafeEqual } from 'node:crypto';
import { invalidOption } from '../../shared/errors.js';
import { stringList } from '../../shared/option-kit.js';
import { MAX_API_KEY_BYTES } from './request.js';

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Checks a list of API keys (each a non-empty string of at most 512 bytes); `name` is the option's. Never repeats a key. */
export function apiKeysOption(name: string, value: unknown): readonly string[] {
  const keys = stringList(name, value) ?? [];
  if (keys.some((k) => Buffer.byteLength(k) > MAX_API_KEY_BYTES)) {
    throw invalidOption(`Expected every API key in \`${name}\` to be at most ${MAX_API_KEY_BYTES} bytes`);
  }
  return keys;
}

/**
 * The accepted keys, as digests. A key is identified by its digest's hex (what sessions remember, so the
 * keys themselves are kept nowhere but in the caller's options).
 */
export class ApiKeySet {
  #digests: readonly Buffer[] = [];
  #ids: ReadonlySet<string> = new Set();

  constructor(keys: readonly string[]) {
    this.replace(keys);
  }

  get size(): number {
    return this.#digests.length;
  }

  /** Replaces the accepted keys (already checked with {@link apiKeysOption}). */
  replace(keys: readonly string[]): void {
    this.#digests = keys.map(sha256);
    this.#ids = new Set(this.#digests.map((d) => d.toString('hex')));
  }

  /** Whether the key with this id is still accepted. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /**
   * The id of `key` if it is accepted, else `null`. Compared with `timingSafeEqual` against every key
   * without stopping early, so timing reveals neither which key matched nor how much of it.
   */
  match(key: string): string | null {
    if (this.#digests.length === 0 || Buffer.byteLength(key) > MAX_API_KEY_BYTES) return null;
    const digest = sha256(key);
    let match = false;
    for (const expected of this.#digests) match = timingSafeEqual(digest, expected) || match;
    return match ? digest.toString('hex') : null;
  }
}
