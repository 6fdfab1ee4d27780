// Parsing a frame from the server into a packet: the check every client runs before it reads a field.
import type { ServerPacket } from './wire.js';

/**
 * The fields each packet type of this version must have in `data`: each name follows the first letter of
 * its value's `typeof` (`s`tring, `n`umber, `b`oolean, `o`bject); in upper case the field is optional.
 */
const SHAPES: Readonly<Record<string, string>> = {
  system_metric: 'stime smetric_type ssource nvalue Ometa',
  container_status: 'scontainer sstatus stime',
  alert: 'slevel smetric_type ssource smessage stime nvalue nthreshold',
  snapshot_end: 'ncount Ssince Bcomplete',
  error: 'ncode smessage sreason stime',
  status: 'ncode smessage stime',
  source_status: 'ssource sstatus slast_seen',
};

/** The field of `data` that does not fit `shape` (`data` itself when it is not an object), or `undefined`. */
function misfit(shape: string, data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return 'data'; // an array has none of the fields
  for (const field of shape.split(' ')) {
    const name = field.slice(1);
    const value = (data as Record<string, unknown>)[name];
    const kind = field[0] as string;
    if (value === undefined && kind < 'a') continue; // optional, absent
    // JSON holds no bigint or symbol: a first letter names one kind.
    if ((typeof value)[0] !== kind.toLowerCase() || value === null) return `data.${name}`;
  }
  return undefined;
}

/**
 * Parses one WebSocket text frame into its packet. Throws `SyntaxError` on invalid JSON and `TypeError`
 * when the frame is not a JSON object with a string `type`, or when a packet of a type this version knows
 * lacks a field of its type or has one of the wrong kind (`{"type":"system_metric"}`,
 * `{"type":"error","data":null}`): whatever it returns for a known type can be read as that type without a
 * check. Extra fields are allowed; values are not checked further (a `time` is a string, not necessarily a
 * valid date). Packets of types unknown to this version are returned as they are and should be ignored.
 * @public
 */
export function parsePacket(text: string): ServerPacket {
  const value = JSON.parse(text) as { type?: unknown; data?: unknown } | null;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof value.type !== 'string') {
    throw new TypeError('Expected a frame to hold one JSON object with a string `type`');
  }
  const shape = Object.hasOwn(SHAPES, value.type) ? SHAPES[value.type] : undefined;
  const field = shape === undefined ? undefined : misfit(shape, value.data);
  if (field !== undefined) throw new TypeError(`Expected \`${field}\` of the right kind in a \`${value.type}\` packet`);
  return value as ServerPacket;
}
