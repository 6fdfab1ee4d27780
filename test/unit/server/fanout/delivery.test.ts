import type { EventEmitter } from 'node:events';
import * as ws from 'ws';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, chunksOf, encodeFrames, envelopeDelivery, snapshotEndDelivery } from '../../../../src/server/fanout/delivery.js';
import { envelopeKey } from '../../../../src/protocol/wire.js';
import { alert, container, metric } from '../../../helpers/fixtures.js';

// ws exports its frame parser, but @types/ws does not declare it.
const { Receiver } = ws as unknown as {
  Receiver: new (options: { maxPayload: number; skipUTF8Validation: boolean }) => EventEmitter & { write(chunk: Buffer): void };
};

/** Every message a ws client would read from `bytes`, in order. */
function decodeAll(bytes: Buffer): { text: string; isBinary: boolean }[] {
  const receiver = new Receiver({ maxPayload: 1 << 30, skipUTF8Validation: false });
  const messages: { text: string; isBinary: boolean }[] = [];
  receiver.on('message', (data: Buffer, isBinary: boolean) => messages.push({ text: data.toString(), isBinary }));
  receiver.on('error', (err: Error) => {
    throw err;
  });
  receiver.write(bytes);
  return messages;
}

describe('encodeFrames', () => {
  it('writes one text frame per packet, each holding exactly that packet', () => {
    const packets = [metric(), container(), alert()];
    const batch = [...packets.map((p) => envelopeDelivery(p, envelopeKey(p))), snapshotEndDelivery(3)];
    const messages = decodeAll(encodeFrames(batch));
    expect(messages.every((m) => !m.isBinary)).toBe(true);
    expect(messages.map((m) => JSON.parse(m.text))).toEqual([...packets, { type: 'snapshot_end', data: { count: 3 } }]);
  });

  it.each([0, 1, 125, 126, 65535, 65536, 200_000])('frames a %i-byte payload with the right header', (size) => {
    const json = JSON.stringify('é'.repeat(Math.max(0, Math.floor((size - 2) / 2))) + 'x'.repeat(Math.max(0, size - 2) % 2));
    const [message] = decodeAll(encodeFrames([{ type: 'heartbeat', json, conflationKey: null }]));
    expect(message?.text).toBe(json);
  });

  it('builds the bytes of a batch once however many clients send it', () => {
    const batch = [envelopeDelivery(metric(), 'a'), envelopeDelivery(metric('memory'), 'b')];
    expect(encodeFrames(batch)).toBe(encodeFrames(batch));
  });

  it('conflates every envelope by its key (latest value, latest container state, latest alert), never the end marker', () => {
    expect(envelopeDelivery(metric(), 'k').conflationKey).toBe('k');
    expect(envelopeDelivery(container(), 'c').conflationKey).toBe('c');
    expect(envelopeDelivery(alert(), 'a').conflationKey).toBe('a');
    expect(snapshotEndDelivery(0).conflationKey).toBeNull();
  });

  it('cuts a batch into chunks of about 64 KB, once per batch array', () => {
    const batch = Array.from({ length: 2000 }, (_, i) => envelopeDelivery(metric(), `k${i}`));
    const chunks = chunksOf(batch);
    expect(chunks.flat()).toEqual(batch);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(chunk.reduce((n, d) => n + d.json.length, 0)).toBeLessThanOrEqual(CHUNK_BYTES);
    expect(chunksOf(batch)).toBe(chunks);
  });
});
