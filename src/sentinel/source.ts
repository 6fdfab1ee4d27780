// The machine's identity in every envelope the sentinel publishes, and the rule that keeps the series of
// several hosts apart on one channel. Pure, except for the os.hostname() default.
import { hostname } from 'node:os';
import { describeValue, invalidOption } from '../shared/errors.js';

/** Longest `source` option: room for `:<mount>` within the schema's 256 characters. */
export const MAX_SOURCE_LENGTH = 128;
/** `:` separates the host from a mount or an interface, `/` from a container name. */
const SOURCE_PATTERN = /^[^\s:/\p{Cc}]+$/u;

/**
 * The sentinel's `source`: the given one, else this machine's hostname. Throws `SST_ERR_INVALID_OPTION`
 * for an empty or long value, or one with `:`, `/` or whitespace, which the key rule below reserves.
 */
export function resolveSource(value: unknown): string {
  const source = value ?? hostname();
  if (typeof source !== 'string' || source.length === 0 || source.length > MAX_SOURCE_LENGTH || !SOURCE_PATTERN.test(source)) {
    const got = describeValue(source);
    throw invalidOption(
      `Expected \`source\` to be 1 to ${MAX_SOURCE_LENGTH} characters without ":", "/" or whitespace${value === undefined ? ' (the default is os.hostname(); pass `source`)' : ''}, got ${got}`,
    );
  }
  return source;
}

/**
 * The `source` of a series: the host itself for host-wide metrics (cpu, memory, load), and
 * `<host>:<part>` for a mount point (`web-1:/var`) or an interface (`web-1:eth0`). A host has no `:`,
 * so the host is everything before the first `:`.
 */
export function seriesSource(host: string, part?: string): string {
  return part === undefined ? host : `${host}:${part}`;
}

/** A container's name on the wire: `<host>/<name>` (Docker names have no `/`). */
export function containerName(host: string, name: string): string {
  return `${host}/${name}`;
}
