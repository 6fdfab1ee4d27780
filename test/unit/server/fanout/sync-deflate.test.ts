import { randomBytes } from 'node:crypto';
import { constants, createInflateRaw, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SyncDeflate } from '../../../../src/server/fanout/sync-deflate.js';

const OPTIONS = { level: 1, windowBits: 12, memLevel: 4 };
const message = (i: number): Buffer =>
  Buffer.from(JSON.stringify({ type: 'system_metric', data: { source: 'web-1', metric_type: 'cpu', value: i, unit: '%' } }));

/** An inflate stream kept across messages, as a client's with context takeover; resolves each message. */
function inflater(): (deflated: Buffer) => Promise<Buffer> {
  const inflate = createInflateRaw({ windowBits: 15 });
  let out: Buffer[] = [];
  inflate.on('data', (chunk: Buffer) => out.push(chunk));
  return (deflated) =>
    new Promise((resolve) => {
      inflate.write(deflated);
      inflate.flush(constants.Z_SYNC_FLUSH, () => {
        resolve(Buffer.concat(out));
        out = [];
      });
    });
}

describe('SyncDeflate', () => {
  it('is available on this Node (the shared contexts use it, not the fallback)', () => {
    const deflate = SyncDeflate.create(OPTIONS);
    expect(deflate).not.toBeNull();
    deflate!.close();
  });

  it('compresses each message against the earlier ones, sync-flushed, and one inflate stream decodes them all', async () => {
    const deflate = SyncDeflate.create(OPTIONS)!;
    const inflate = inflater();
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const deflated = deflate.write(message(i));
      expect(deflated.subarray(-4)).toEqual(Buffer.from([0x00, 0x00, 0xff, 0xff]));
      sizes.push(deflated.length);
      expect(await inflate(deflated)).toEqual(message(i));
    }
    // Later messages refer to earlier ones: a fraction of the first one's size.
    expect(sizes.at(-1)!).toBeLessThan(sizes[0]! / 2);
    deflate.close();
  });

  it('refers to nothing before a reset: the next message inflates on its own', () => {
    const deflate = SyncDeflate.create(OPTIONS)!;
    deflate.write(message(1));
    deflate.reset();
    const alone = deflate.write(message(2));
    expect(inflateRawSync(alone, { finishFlush: constants.Z_SYNC_FLUSH })).toEqual(message(2));
    deflate.close();
  });

  it('returns all of an output larger than its buffer', () => {
    const deflate = SyncDeflate.create({ ...OPTIONS, windowBits: 15 })!;
    const payload = randomBytes(100_000); // incompressible: more output than the 16 KiB buffer
    const deflated = deflate.write(payload);
    expect(inflateRawSync(deflated, { finishFlush: constants.Z_SYNC_FLUSH })).toEqual(payload);
    deflate.close();
  });

  it('throws, instead of writing into a freed context, after close', () => {
    const deflate = SyncDeflate.create(OPTIONS)!;
    deflate.close();
    expect(() => deflate.write(message(1))).toThrow(/closed/);
  });
});
