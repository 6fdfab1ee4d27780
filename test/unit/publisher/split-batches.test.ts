// A batch larger than the server's maxMessageBytes is published as several messages the server accepts.
import { describe, expect, it } from 'vitest';
import { encodeEnvelopeMessages } from '../../../src/publisher/encode-envelopes.js';
import { createSystemPublisher } from '../../../src/publisher/publisher.js';
import { SystemStreamValidationError } from '../../../src/shared/errors.js';
import type { Envelope } from '../../../src/protocol/wire.js';
import { metric } from '../../helpers/fixtures.js';
import { rejection } from '../../helpers/rejection.js';

const batch = (n: number): Envelope[] => Array.from({ length: n }, (_, i) => metric(`m${i % 7}`, i, 'host', '2026-01-17T04:30:00.000Z'));
const bytes = (text: string): number => Buffer.byteLength(text);

describe('encodeEnvelopeMessages', () => {
  it('keeps a batch within the limit one message, byte for byte what encodeEnvelopes gives', () => {
    const envelopes = batch(10);
    expect(encodeEnvelopeMessages(envelopes, 65536)).toEqual([JSON.stringify(envelopes)]);
  });

  it('cuts 1,000 envelopes (about 150 KB) into messages of at most 65,536 bytes, in order, none lost', () => {
    const envelopes = batch(1000);
    expect(bytes(JSON.stringify(envelopes))).toBeGreaterThan(100_000);
    const messages = encodeEnvelopeMessages(envelopes, 65536);
    expect(messages.length).toBeGreaterThan(1);
    for (const m of messages) expect(bytes(m)).toBeLessThanOrEqual(65536);
    expect(messages.flatMap((m) => JSON.parse(m) as Envelope[])).toEqual(envelopes);
  });

  it('fills each message up to the limit exactly, counting UTF-8 bytes', () => {
    const envelopes = batch(50).map((e) => ({ ...e, data: { ...e.data, value: 5, source: 'hôte-✓' } })) as Envelope[];
    const one = bytes(JSON.stringify(envelopes[0]));
    const limit = 2 + 3 * one + 2; // room for three members and their two commas
    const messages = encodeEnvelopeMessages(envelopes, limit);
    expect(messages.map((m) => (JSON.parse(m) as unknown[]).length)).toEqual([...Array(16).fill(3), 2]);
    for (const m of messages) expect(bytes(m)).toBeLessThanOrEqual(limit);
  });

  it('refuses one envelope larger than the limit, naming it, alone or in a batch', () => {
    const big = metric('cpu', 1, 'x'.repeat(200));
    expect(() => encodeEnvelopeMessages(big, 100)).toThrow(SystemStreamValidationError);
    expect(() => encodeEnvelopeMessages([metric(), big], 200)).toThrow(/\/1 must be at most 200 bytes as JSON \(maxMessageBytes\)/);
  });
});

describe('createSystemPublisher: option maxMessageBytes', () => {
  const fakeRedis = () => {
    const published: string[] = [];
    return {
      published,
      status: 'ready',
      on: () => {},
      once: () => {},
      off: () => {},
      removeListener: () => {},
      duplicate: () => {
        throw new Error('not used');
      },
      publish: async (_channel: string, message: string) => {
        published.push(message);
        return published.length; // each message reached a different number of subscribers
      },
    };
  };

  it('publishes a large batch as several messages in order, resolving with the fewest subscribers any reached', async () => {
    const redis = fakeRedis();
    const publisher = createSystemPublisher({ redis: redis as never, channel: 'c', maxMessageBytes: 20_000 });
    const envelopes = batch(1000);
    const reached = await publisher.publish(envelopes);
    expect(redis.published.length).toBeGreaterThan(5);
    for (const m of redis.published) expect(bytes(m)).toBeLessThanOrEqual(20_000);
    expect(redis.published.flatMap((m) => JSON.parse(m) as Envelope[])).toEqual(envelopes);
    expect(reached).toBe(1);
    await publisher.close();
  });

  it('rejects a value below 64', async () => {
    const err = await rejection(Promise.resolve().then(() => createSystemPublisher({ redis: fakeRedis() as never, maxMessageBytes: 10 })));
    expect(err).toMatchObject({ code: 'SST_ERR_INVALID_OPTION', message: expect.stringContaining('maxMessageBytes') as unknown });
  });
});
