// A raw deflate stream that is fed synchronously and keeps its context between messages.
//
// Node's zlib has no public synchronous streaming API: its *Sync functions build and free a whole context
// per call (about 15 µs and ~150 KB of native memory for a 200-byte message, and the garbage collector
// pays for it), and its streams run on the thread pool behind an unbounded queue. This drives a DeflateRaw's
// native handle the way zlib's own *Sync functions do, but keeps the handle. It is the one file that knows
// zlib internals; `SyncDeflate.create()` checks them once per process with a round trip and returns `null`
// when this Node's zlib does not have them, so the caller can fall back to the public *Sync functions.
import { constants, createDeflateRaw, inflateRawSync, type DeflateRaw } from 'node:zlib';

/** The internals of a zlib stream used here (lib/zlib.js `processChunkSync`). */
interface ZlibInternals {
  readonly _handle?: {
    writeSync?(flush: number, input: Buffer, inOffset: number, inLength: number, out: Buffer, outOffset: number, outLength: number): void;
  };
  /** `[availOut, availIn]` after each write. */
  readonly _writeState?: Uint32Array;
}

export interface SyncDeflateOptions {
  readonly level: number;
  readonly windowBits: number;
  readonly memLevel: number;
}

/** One process-wide output buffer: each result is copied out before the next write. */
const OUT = Buffer.allocUnsafe(16 * 1024);
let supported: boolean | undefined;

export class SyncDeflate {
  readonly #stream: DeflateRaw & ZlibInternals;
  #error: Error | undefined;

  private constructor(options: SyncDeflateOptions) {
    this.#stream = createDeflateRaw(options) as DeflateRaw & ZlibInternals;
    this.#stream.on('error', (error: Error) => (this.#error = error));
  }

  /** A stream with these options, or `null` when this Node's zlib cannot be driven synchronously. */
  static create(options: SyncDeflateOptions): SyncDeflate | null {
    supported ??= SyncDeflate.#selfTest();
    return supported ? new SyncDeflate(options) : null;
  }

  /** `payload` compressed against everything written since the last reset, sync-flushed (ends `00 00 ff ff`). */
  write(payload: Buffer): Buffer {
    const handle = this.#stream._handle;
    const state = this.#stream._writeState!;
    if (handle?.writeSync === undefined) throw new Error('the deflate stream is closed');
    const parts: Buffer[] = [];
    let inOffset = 0;
    let availIn = payload.length;
    for (;;) {
      handle.writeSync(constants.Z_SYNC_FLUSH, payload, inOffset, availIn, OUT, 0, OUT.length);
      if (this.#error !== undefined) throw this.#error;
      const availOut = state[0]!;
      const availInAfter = state[1]!;
      parts.push(Buffer.from(OUT.subarray(0, OUT.length - availOut)));
      inOffset += availIn - availInAfter;
      availIn = availInAfter;
      if (availOut !== 0) break; // the output did not fill the buffer: all of the input is in and flushed
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Forgets everything written: the next message refers to nothing before it. */
  reset(): void {
    this.#stream.reset();
  }

  /** Frees the native context. */
  close(): void {
    this.#stream.close();
  }

  /** Whether the internals are there and behave: two messages, the second referring to the first, inflate back. */
  static #selfTest(): boolean {
    try {
      const deflate = new SyncDeflate({ level: 1, windowBits: 15, memLevel: 8 });
      const first = Buffer.from('{"type":"system_metric","data":{"value":1}}');
      const second = Buffer.from('{"type":"system_metric","data":{"value":2}}');
      const deflated = Buffer.concat([deflate.write(first), deflate.write(second)]);
      deflate.close();
      return inflateRawSync(deflated, { finishFlush: constants.Z_SYNC_FLUSH }).equals(Buffer.concat([first, second]));
    } catch {
      return false;
    }
  }
}
