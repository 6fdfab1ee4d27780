import { describe, expect, it } from 'vitest';
import { compareStreamIds, hashTag, historyStreamKey, keySlot, publishWithHistory, unstamp } from '../../../src/redis/history-script.js';

/** Redis Cluster's slot of a key or channel: CRC16-XMODEM of its hash tag (or the whole name), mod 16384. */
function slot(key: string): number {
  const bytes = Buffer.from(hashTag(key));
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe('historyStreamKey', () => {
  it('wraps a channel without a hash tag in braces, keeping the channel`s name and slot', () => {
    expect(historyStreamKey('system:metrics')).toBe('{system:metrics}:history');
    expect(slot('system:metrics')).toBe(10969); // as measured against a real cluster (REFERENCE.md, section G)
    expect(slot('{system:metrics}:history')).toBe(slot('system:metrics'));
  });

  it('keeps a channel`s own hash tag first, so the stream shares its slot', () => {
    expect(historyStreamKey('{tenant-1}:metrics')).toBe('{tenant-1}:metrics:history');
    expect(historyStreamKey('{system:metrics}')).toBe('{system:metrics}:history');
    expect(slot(historyStreamKey('{tenant-1}:metrics'))).toBe(slot('{tenant-1}:metrics'));
    expect(slot(historyStreamKey('{system:metrics}'))).toBe(slot('{system:metrics}'));
  });

  it.each(['metrics', 'a{b', 'host.1:cpu', 'ünïcode:metrics', 'test:8f0c3e4a-1b2c-4d5e-8f90-123456789abc:metrics'])(
    'puts the stream of %s in the channel`s slot',
    (channel) => {
      expect(slot(historyStreamKey(channel))).toBe(slot(channel));
    },
  );

  it('falls back to <channel>:history, in a slot of its own, for a channel with a } but no tag', () => {
    expect(historyStreamKey('a}b')).toBe('a}b:history');
    expect(historyStreamKey('{}x')).toBe('{}x:history');
    expect(historyStreamKey('x{}y')).toBe('x{}y:history');
  });

  it('reads hash tags as Redis does', () => {
    expect(hashTag('{user1000}.following')).toBe('user1000');
    expect(hashTag('foo{}{bar}')).toBe('foo{}{bar}');
    expect(hashTag('foo{{bar}}zap')).toBe('{bar');
    expect(hashTag('foo{bar}{zap}')).toBe('bar');
    expect(hashTag('plain')).toBe('plain');
  });
});

describe('keySlot', () => {
  it('agrees with the reference CRC16 on every name above', () => {
    for (const name of ['system:metrics', '{system:metrics}:history', '{tenant-1}:metrics', 'a}b', 'x{}y', 'ünïcode:metrics'])
      expect(keySlot(name)).toBe(slot(name));
    expect(keySlot('123456789')).toBe(0x31c3 % 16384); // the CRC16-XMODEM check value
  });
});

describe('publishWithHistory', () => {
  it('refuses SPUBLISH to a channel in another slot than the stream before sending anything', async () => {
    const calls: unknown[] = [];
    const client = { evalsha: async (...args: unknown[]) => calls.push(args), eval: async (...args: unknown[]) => calls.push(args) };
    await expect(
      publishWithHistory(client, { channel: 'system:metrics', streamKey: 'system:metrics:history', maxLen: 10, command: 'SPUBLISH' }, '{}'),
    ).rejects.toThrow(/not in the Cluster slot/);
    expect(calls).toEqual([]);
  });
});

describe('unstamp', () => {
  it('splits a stamped message into its stream entry ID and payload', () => {
    const { id, payload } = unstamp(Buffer.from('1768624200000-3 {"type":"system_metric"}'));
    expect(id).toBe('1768624200000-3');
    expect(payload.toString()).toBe('{"type":"system_metric"}');
  });

  it.each(['{"type":"alert"}', '[{"type":"alert"}]', ' {"a":1}', '12', '1-2', '12x-3 {}', '', `${'1'.repeat(40)}-1 {}`])(
    'leaves %j as it is (no stamp)',
    (text) => {
      const message = Buffer.from(text);
      const { id, payload } = unstamp(message);
      expect(id).toBeNull();
      expect(payload).toBe(message);
    },
  );
});

describe('compareStreamIds', () => {
  it('orders by milliseconds, then sequence, numerically', () => {
    expect(compareStreamIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareStreamIds('10-2', '10-10')).toBeLessThan(0);
    expect(compareStreamIds('10-10', '10-2')).toBeGreaterThan(0);
    expect(compareStreamIds('10-1', '10-1')).toBe(0);
  });
});
