import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  compressedFrame,
  deflateMessage,
  framesFor,
  FreshDeflater,
  SharedDeflater,
  type DeflateCursor,
  type DeflatePeer,
  type DeflateSettings,
} from '../../../../src/server/fanout/shared-deflate.js';

// ws's own decoder, the one a Node client uses (not in ws's exports map, so loaded by path).
const PerMessageDeflate = createRequire(import.meta.url)('../../../../node_modules/ws/lib/permessage-deflate.js');

const SETTINGS: DeflateSettings = { level: 1, windowBits: 15, memLevel: 8, resetEvery: 10 };
const CONTEXT: DeflatePeer = { noContextTakeover: false, maxWindowBits: 15 };

/** A client's decoder as ws builds it: one inflate context kept across messages (context takeover). */
function client(): { decode(frames: Buffer): Promise<string[]> } {
  const inflater = new PerMessageDeflate({}, false);
  inflater.accept([{}]);
  const decompress = (data: Buffer): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      inflater.decompress(data, true, (err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out))),
    );
  return {
    async decode(frames) {
      const messages: string[] = [];
      for (let at = 0; at < frames.length;) {
        const rsv1 = (frames[at]! & 0x40) !== 0;
        let length = frames[at + 1]! & 0x7f;
        let header = 2;
        if (length === 126) ((length = frames.readUInt16BE(at + 2)), (header = 4));
        else if (length === 127) ((length = frames.readUInt32BE(at + 6)), (header = 10));
        const payload = frames.subarray(at + header, at + header + length);
        messages.push((rsv1 ? await decompress(payload) : payload).toString());
        at += header + length;
      }
      return messages;
    },
  };
}

const envelope = (i: number): Buffer =>
  Buffer.from(
    JSON.stringify({
      type: 'system_metric',
      data: {
        source: `web-${i % 5}`,
        metric_type: 'cpu',
        value: (i * 7.3) % 100,
        unit: '%',
        time: new Date(1_800_000_000_000 + i).toISOString(),
      },
    }),
  );
const batchOf = (from: number, count: number): Buffer[] => Array.from({ length: count }, (_, k) => envelope(from + k));
const newCursor = (): DeflateCursor => ({ epoch: -1, next: 0 });

/** The frames of a buffer of back-to-back frames, one buffer each. */
function splitFrames(frames: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < frames.length;) {
    let length = frames[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) ((length = frames.readUInt16BE(at + 2)), (header = 4));
    else if (length === 127) ((length = frames.readUInt32BE(at + 6)), (header = 10));
    out.push(frames.subarray(at, at + header + length));
    at += header + length;
  }
  return out;
}

describe('compressedFrame', () => {
  it('sets FIN, RSV1 and the text opcode, and frames lengths of every size class', () => {
    for (const size of [10, 200, 70_000]) {
      const frame = compressedFrame(Buffer.alloc(size, 1));
      expect(frame[0]).toBe(0xc1);
      expect(frame.length).toBe(size + (size < 126 ? 2 : size < 65536 ? 4 : 10));
    }
  });

  it('removes the 00 00 ff ff tail of the sync flush', () => {
    const deflated = deflateMessage(envelope(1), SETTINGS);
    expect(deflated.subarray(-4)).not.toEqual(Buffer.from([0, 0, 0xff, 0xff]));
  });
});

// Both ways a group's context compresses: a zlib stream fed synchronously (this Node), and the fallback for a
// Node whose zlib cannot be driven that way (each message deflated with a preset dictionary).
describe.each([
  ['with a zlib stream', (settings: DeflateSettings) => new SharedDeflater(settings, new FreshDeflater(settings))],
  [
    'with preset dictionaries (fallback)',
    (settings: DeflateSettings) => new SharedDeflater(settings, new FreshDeflater(settings, null), null),
  ],
])('SharedDeflater %s', (name, newDeflater) => {
  it('is decoded exactly by a client that receives every batch, across several resets', async () => {
    const deflater = newDeflater(SETTINGS);
    const decoder = client();
    const cursor = newCursor();
    let sent = 0;
    for (let b = 0; b < 12; b++) {
      const payloads = batchOf(sent, 3);
      const frames = framesFor(deflater.compress(payloads), CONTEXT, cursor, SETTINGS.windowBits)!;
      expect(await decoder.decode(frames)).toEqual(payloads.map(String));
      sent += payloads.length;
    }
  });

  it('compresses bench-like envelopes to under a third of their size once the context holds a few', () => {
    const deflater = newDeflater({ ...SETTINGS, resetEvery: 50 });
    let raw = 0;
    let compressed = 0;
    for (let b = 0; b < 50; b++) {
      const payloads = batchOf(b * 2, 2);
      raw += payloads.reduce((n, p) => n + p.length, 0);
      compressed += deflater.compress(payloads).shared.length;
    }
    expect(compressed / raw).toBeLessThan(0.33);
  });

  it('serves a client that joins mid-epoch the batches compressed from an empty context, and the shared frames from the next reset', async () => {
    const deflater = newDeflater(SETTINGS);
    const early = { decoder: client(), cursor: newCursor() };
    const late = { decoder: client(), cursor: newCursor() };
    let sent = 0;
    for (let b = 0; b < 8; b++) {
      const payloads = batchOf(sent, 3);
      sent += 3;
      const batch = deflater.compress(payloads);
      const expected = payloads.map(String);
      expect(await early.decoder.decode(framesFor(batch, CONTEXT, early.cursor, 15)!)).toEqual(expected);
      if (b < 2) continue; // the late client connects at the third batch
      const frames = framesFor(batch, CONTEXT, late.cursor, 15)!;
      expect(frames === batch.shared).toBe(late.cursor.epoch !== -1);
      expect(await late.decoder.decode(frames)).toEqual(expected);
    }
    expect(late.cursor.epoch).toBeGreaterThan(-1); // in step again after a reset
  });

  it('puts a client that missed a batch (conflated, behind) out of step until the next reset, decoding correctly', async () => {
    const deflater = newDeflater(SETTINGS);
    const behind = { decoder: client(), cursor: newCursor() };
    const states: boolean[] = [];
    for (let b = 0; b < 9; b++) {
      const payloads = batchOf(b * 2, 2);
      const batch = deflater.compress(payloads);
      if (b === 1) continue; // skipped: the client was over its buffer
      const frames = framesFor(batch, CONTEXT, behind.cursor, 15)!;
      states.push(frames === batch.shared);
      expect(await behind.decoder.decode(frames)).toEqual(payloads.map(String));
    }
    // Batches 0..4 are epoch 0 (10 messages), the reset comes at batch 5.
    expect(states).toEqual([true, false, false, false, true, true, true, true]);
  });

  it('compresses every message alone for a client that asked for server_no_context_takeover', async () => {
    const deflater = newDeflater(SETTINGS);
    const peer: DeflatePeer = { noContextTakeover: true, maxWindowBits: 15 };
    const cursor = newCursor();
    for (let b = 0; b < 4; b++) {
      const payloads = batchOf(b * 3, 3);
      const batch = deflater.compress(payloads);
      const frames = framesFor(batch, peer, cursor, 15)!;
      expect(frames).toBe(batch.fresh(true));
      // Each message decodes with a decoder of its own: nothing refers to an earlier message.
      const decoded = await Promise.all(splitFrames(frames).map(async (frame) => (await client().decode(frame))[0]));
      expect(decoded).toEqual(payloads.map(String));
    }
  });

  it('compresses a batch for a client out of step as one stream: smaller than each message alone, and decodable after anything', async () => {
    const deflater = newDeflater(SETTINGS);
    const payloads = batchOf(0, 8);
    const batch = deflater.compress(payloads);
    // (The fallback compresses each message alone in both cases.)
    if (name.includes('stream')) expect(batch.fresh(false).length).toBeLessThan(batch.fresh(true).length * 0.8);
    const decoder = client();
    await decoder.decode(newDeflater(SETTINGS).compress(batchOf(100, 3)).shared); // its window holds other messages
    expect(await decoder.decode(batch.fresh(false))).toEqual(payloads.map(String));
  });

  it('sends uncompressed frames to a client whose window is smaller than the shared one', () => {
    const batch = newDeflater(SETTINGS).compress(batchOf(0, 2));
    expect(framesFor(batch, { noContextTakeover: false, maxWindowBits: 10 }, newCursor(), 15)).toBeNull();
  });

  it('keeps at most one window of dictionary, whatever the message sizes', async () => {
    const small: DeflateSettings = { ...SETTINGS, windowBits: 9, resetEvery: 1000 };
    const deflater = newDeflater(small);
    const decoder = client();
    const cursor = newCursor();
    for (let b = 0; b < 30; b++) {
      const payloads = [Buffer.from(JSON.stringify({ type: 'alert', data: { message: 'x'.repeat(b * 37), n: b } }))];
      expect(
        await decoder.decode(framesFor(deflater.compress(payloads), { noContextTakeover: false, maxWindowBits: 9 }, cursor, 9)!),
      ).toEqual(payloads.map(String));
    }
  });
});
