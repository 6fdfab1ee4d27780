// The Redis side of the stream's history, shared by the publisher and the server: the stream's key name,
// the one Lua script that adds a message to the stream and publishes it, and the stamp that tells the
// server which stream entry a Pub/Sub message is. Imports nothing (the publisher entry must not load rxjs).
import { createHash } from 'node:crypto';

/**
 * The Redis Stream that keeps the history of `channel`: `{<channel>}:history`, or `<channel>:history`
 * when the channel already has a hash tag. Either way the stream hashes to the same Redis Cluster slot as
 * the channel, which a script that writes both needs with sharded Pub/Sub (SPUBLISH): a Cluster hashes a
 * name by its hash tag (the text between the first `{` and the next `}`, when not empty) or, without one,
 * by the whole name, so `system:metrics` and `{system:metrics}:history` share a slot while the channel's
 * name stays what producers already use. A channel with a `}` but no tag (`a}b`, `{}x`) cannot be
 * wrapped that way: its stream is `<channel>:history`, in a slot of its own.
 * @public
 */
export function historyStreamKey(channel: string): string {
  const plain = `${channel}:history`;
  if (hashTag(channel) !== channel) return plain; // it has a tag, which stays the first one
  const wrapped = `{${channel}}:history`;
  return hashTag(wrapped) === channel ? wrapped : plain;
}

/** The Redis Cluster slot of a key or shard channel: CRC16 (XMODEM) of its hash tag, modulo 16384. */
export function keySlot(key: string): number {
  let crc = 0;
  for (const byte of Buffer.from(hashTag(key))) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** What Redis Cluster hashes of `key`: its hash tag, or the whole key when it has none. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/**
 * Adds the message to the stream (capped near `maxlen` entries) and publishes it stamped with the new
 * entry's ID, in one script: Redis runs it atomically (no other command runs in between), and an XADD
 * that fails (a key of another type, a refused command) aborts it before anything is published, where
 * MULTI/EXEC would publish anyway. A failure after the XADD would not undo it: see {@link publishWithHistory}.
 * KEYS[1] stream; ARGV[1] channel, ARGV[2] message, ARGV[3] maxlen, ARGV[4] `PUBLISH` or `SPUBLISH`.
 * Returns the number of subscribers that received it.
 */
export const PUBLISH_WITH_HISTORY_LUA = [
  "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'm', ARGV[2])",
  "local command = ARGV[4] == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH'",
  "return redis.call(command, ARGV[1], id .. ' ' .. ARGV[2])",
].join('\n');

const PUBLISH_WITH_HISTORY_SHA = createHash('sha1').update(PUBLISH_WITH_HISTORY_LUA).digest('hex');

/** What publishing with history needs of a Redis client: ioredis's `evalsha` and `eval`. */
export interface ScriptRunner {
  evalsha(sha: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export function isScriptRunner(client: unknown): client is ScriptRunner {
  const c = client as Partial<ScriptRunner> | null;
  return typeof c === 'object' && c !== null && typeof c.evalsha === 'function' && typeof c.eval === 'function';
}

/** Where a message goes when it is published with history. */
export interface HistoryTarget {
  readonly channel: string;
  readonly streamKey: string;
  /** The stream's approximate cap, in entries (`MAXLEN ~`). */
  readonly maxLen: number;
  readonly command?: 'PUBLISH' | 'SPUBLISH';
}

/**
 * Runs {@link PUBLISH_WITH_HISTORY_LUA} by its SHA (EVALSHA), loading it with EVAL when Redis does not
 * know it yet (a fresh or restarted server). Resolves with the number of subscribers that received it.
 *
 * With SPUBLISH the stream must be in the channel's slot ({@link historyStreamKey} is), and this is
 * checked before anything is sent: Redis refuses a shard channel the node does not serve only when the
 * script reaches the SPUBLISH, after its XADD, and a script's writes are not rolled back, so the entry
 * would stay in the stream although nobody received it.
 */
export async function publishWithHistory(client: ScriptRunner, target: HistoryTarget, message: string): Promise<number> {
  if (target.command === 'SPUBLISH' && keySlot(target.streamKey) !== keySlot(target.channel)) {
    throw new Error(
      `The history stream ${target.streamKey} is not in the Cluster slot of the shard channel ${target.channel}: use historyStreamKey(channel)`,
    );
  }
  const args = [target.streamKey, target.channel, message, target.maxLen, target.command ?? 'PUBLISH'] as const;
  try {
    return Number(await client.evalsha(PUBLISH_WITH_HISTORY_SHA, 1, ...args));
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return Number(await client.eval(PUBLISH_WITH_HISTORY_LUA, 1, ...args));
  }
}

/** A stream entry ID, `<milliseconds>-<sequence>`. */
const STREAM_ID = /^(\d{1,16})-(\d{1,16})$/;
/** A stamp is the ID and one space: at most 16 + 1 + 16 + 1 bytes. */
const MAX_STAMP_BYTES = 34;
const SPACE = 0x20;

/** A Pub/Sub message, with the stream entry ID it was stamped with (`null`: published without history). */
export interface Unstamped {
  readonly id: string | null;
  readonly payload: Buffer;
}

/**
 * Splits a Pub/Sub message into the stream entry ID its stamp carries and the payload, without copying.
 * A message published with history reads `<ms>-<seq> <json>`; anything else (plain JSON from a producer
 * that only PUBLISHes, which starts with `{`, `[` or whitespace) has no stamp and is returned as it is.
 */
export function unstamp(message: Buffer): Unstamped {
  const first = message[0];
  if (first === undefined || first < 0x30 || first > 0x39) return { id: null, payload: message };
  const space = message.subarray(0, MAX_STAMP_BYTES).indexOf(SPACE);
  if (space < 0) return { id: null, payload: message };
  const id = message.toString('latin1', 0, space);
  return STREAM_ID.test(id) ? { id, payload: message.subarray(space + 1) } : { id: null, payload: message };
}

/** Compares two stream entry IDs: negative when `a` is older than `b`, 0 when equal, positive when newer. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = splitId(a);
  const [bMs, bSeq] = splitId(b);
  return aMs - bMs || aSeq - bSeq;
}

/** The milliseconds part of a stream entry ID: when Redis added the entry, by its own clock. */
export function streamIdMs(id: string): number {
  return splitId(id)[0];
}

function splitId(id: string): [number, number] {
  const dash = id.indexOf('-');
  return dash < 0 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}
