// permessage-deflate (RFC 7692) compressed once per group of clients, not once per client.
//
// Clients that decoded the same messages since a reset hold the same inflate window, so one compressed
// frame, whose back-references point only into those messages, decodes correctly for all of them. The
// shared context is reset every `resetEvery` messages, at a batch boundary (like a video keyframe): the
// first message after a reset refers to nothing, so any client that receives it is in step from then on.
// A client out of step (it joined, skipped a batch or was conflated) gets the batch compressed from an
// empty context, as one stream whose messages refer only to earlier ones of the same batch: they arrive
// back to back, so they decode whatever its window held before. A client that asked for
// server_no_context_takeover gets each message compressed alone.
//
// Each group's context is one zlib deflate stream fed synchronously (sync-deflate.ts: no thread-pool queue
// to grow, nothing allocated per message). On a Node whose zlib cannot be driven that way, each message is
// deflated on its own with the bytes sent since the reset as its preset dictionary: the output is what a
// streaming deflater with that history would be allowed to produce, at several times the CPU.
import { constants, deflateRawSync } from 'node:zlib';
import { frameHeaderLength } from './raw-frame.js';
import { SyncDeflate } from './sync-deflate.js';

/** How the shared contexts compress. */
export interface DeflateSettings {
  /** zlib level, 1 (fastest) to 9. */
  readonly level: number;
  /** Base-2 log of the window, 9 to 15: how far back a message may refer, and the dictionary kept per group. */
  readonly windowBits: number;
  /** zlib memLevel, 1 to 9: with windowBits, the memory of each group's context. */
  readonly memLevel: number;
  /** Messages between two resets of a group's context. */
  readonly resetEvery: number;
}

/** What the client's `permessage-deflate` negotiation allows the server to send it. */
export interface DeflatePeer {
  /** The client asked for `server_no_context_takeover`: every message must be compressed alone. */
  readonly noContextTakeover: boolean;
  /** `server_max_window_bits` the client asked for (15 when it did not). */
  readonly maxWindowBits: number;
}

/** Where a client stands against a group's shared context. */
export interface DeflateCursor {
  /** The context epoch the client is in step with; -1 when out of step. */
  epoch: number;
  /** The next message position (since the epoch's reset) the client must receive to stay in step. */
  next: number;
}

/** One batch, compressed: the shared frames and, built on demand, the same messages from an empty context. */
export interface CompressedBatch {
  readonly epoch: number;
  /** Position of the batch's first message since the reset; 0: the batch starts an epoch. */
  readonly position: number;
  /** Messages in the batch. */
  readonly count: number;
  /** The batch's frames, compressed against the shared context. */
  readonly shared: Buffer;
  /** The batch's frames from an empty context, as one stream or `eachAlone` (built once each, on first use). */
  fresh(eachAlone: boolean): Buffer;
}

const SYNC_TAIL_BYTES = 4; // 00 00 ff ff, which RFC 7692 §7.2.1 says to remove

/**
 * A final text frame with RSV1 set (the first and only frame of a compressed message) around `deflated`,
 * the output of a sync-flushed raw deflate with its trailing `00 00 ff ff` removed.
 */
export function compressedFrame(deflated: Buffer): Buffer {
  const length = deflated.length;
  const header = frameHeaderLength(length);
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0xc1; // FIN + RSV1 + text
  if (length < 126) frame[1] = length;
  else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  deflated.copy(frame, header);
  return frame;
}

/** A compressed frame around the output of a sync flush (the `00 00 ff ff` tail is removed here). */
function flushedFrame(deflated: Buffer): Buffer {
  return compressedFrame(deflated.subarray(0, deflated.length - SYNC_TAIL_BYTES));
}

/** `payload` deflated (sync flush, tail removed), referring to `dictionary` when it is given. */
export function deflateMessage(payload: Buffer, settings: DeflateSettings, dictionary?: Buffer): Buffer {
  const out = deflateRawSync(payload, {
    level: settings.level,
    windowBits: settings.windowBits,
    memLevel: settings.memLevel,
    finishFlush: constants.Z_SYNC_FLUSH,
    ...(dictionary !== undefined && dictionary.length > 0 ? { dictionary } : {}),
  });
  return out.subarray(0, out.length - SYNC_TAIL_BYTES);
}

/**
 * Compresses batches from an empty context: whatever a client's window held, it decodes them. As one stream
 * (each message may refer to the earlier ones of the same batch, which reach the client just before it), or
 * each message alone for a client that asked for server_no_context_takeover. One context serves every
 * batch (compression is synchronous): reset before each use.
 */
export class FreshDeflater {
  readonly #settings: DeflateSettings;
  /** `null` on a Node whose zlib cannot be driven synchronously: then every message is compressed alone. */
  readonly #stream: SyncDeflate | null;

  constructor(settings: DeflateSettings, stream: SyncDeflate | null = SyncDeflate.create(settings)) {
    this.#settings = settings;
    this.#stream = stream;
  }

  compress(payloads: readonly Buffer[], eachAlone: boolean): Buffer {
    const stream = this.#stream;
    const frames: Buffer[] = [];
    stream?.reset();
    for (const payload of payloads) {
      if (stream === null) {
        frames.push(compressedFrame(deflateMessage(payload, this.#settings)));
        continue;
      }
      if (eachAlone) stream.reset();
      frames.push(flushedFrame(stream.write(payload)));
    }
    return Buffer.concat(frames);
  }

  /** Frees its native context. */
  close(): void {
    this.#stream?.close();
  }
}

/**
 * One group's shared compression context (a deflate stream, or at most one window of the messages sent since
 * the last reset), and the epoch and position that tell which clients are in step.
 */
export class SharedDeflater {
  readonly #settings: DeflateSettings;
  readonly #windowBytes: number;
  /** The group's deflate stream; `null` on a Node whose zlib cannot be driven synchronously. */
  readonly #stream: SyncDeflate | null;
  #epoch = 0;
  #position = 0;
  /** Without a stream: the last `#windowBytes` bytes of the messages since the reset (the next dictionary). */
  #window: Buffer = Buffer.alloc(0);

  /** Builds, on demand, the batches' frames for clients out of step. */
  readonly #fresh: FreshDeflater;

  constructor(settings: DeflateSettings, fresh: FreshDeflater, stream: SyncDeflate | null = SyncDeflate.create(settings)) {
    this.#settings = settings;
    this.#windowBytes = 1 << settings.windowBits;
    this.#fresh = fresh;
    this.#stream = stream;
  }

  /** Compresses one batch of message payloads against the shared context and advances it. */
  compress(payloads: readonly Buffer[]): CompressedBatch {
    if (this.#position >= this.#settings.resetEvery) {
      this.#epoch++;
      this.#position = 0;
      this.#stream?.reset();
      this.#window = Buffer.alloc(0);
    }
    const settings = this.#settings;
    const epoch = this.#epoch;
    const position = this.#position;
    const frames: Buffer[] = [];
    for (const payload of payloads) {
      if (this.#stream !== null) frames.push(flushedFrame(this.#stream.write(payload)));
      else {
        frames.push(compressedFrame(deflateMessage(payload, settings, this.#window)));
        this.#remember(payload);
      }
    }
    this.#position += payloads.length;
    const fresh = this.#fresh;
    let asStream: Buffer | undefined;
    let eachAlone: Buffer | undefined;
    return {
      epoch,
      position,
      count: payloads.length,
      shared: Buffer.concat(frames),
      fresh: (alone) => (alone ? (eachAlone ??= fresh.compress(payloads, true)) : (asStream ??= fresh.compress(payloads, false))),
    };
  }

  /** Frees the group's native context; it compresses nothing after this. */
  close(): void {
    this.#stream?.close();
  }

  #remember(payload: Buffer): void {
    const kept = Math.min(this.#window.length, this.#windowBytes - Math.min(payload.length, this.#windowBytes));
    const tail = payload.subarray(Math.max(0, payload.length - this.#windowBytes));
    this.#window = Buffer.concat([this.#window.subarray(this.#window.length - kept), tail]);
  }
}

/** The smallest window zlib deflates raw data with (it turns 8 into 9). */
const MIN_WINDOW_BITS = 9;

/**
 * The frames of `batch` for one client, and where that leaves it: the shared frames when it is in step (or
 * the batch starts an epoch), else the frames from an empty context; `null` when the client's window is
 * smaller than the one the frames are compressed for (it gets the uncompressed frames).
 */
export function framesFor(batch: CompressedBatch, peer: DeflatePeer, cursor: DeflateCursor, windowBits: number): Buffer | null {
  if (peer.maxWindowBits < Math.max(windowBits, MIN_WINDOW_BITS)) return null;
  const inStep = batch.position === 0 || (cursor.epoch === batch.epoch && cursor.next === batch.position);
  if (!peer.noContextTakeover && inStep) {
    cursor.epoch = batch.epoch;
    cursor.next = batch.position + batch.count;
    return batch.shared;
  }
  cursor.epoch = -1;
  return batch.fresh(peer.noContextTakeover);
}
