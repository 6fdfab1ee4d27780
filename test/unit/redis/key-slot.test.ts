import { describe, expect, it } from 'vitest';
import { keySlot } from '../../../src/redis/key-slot.js';

describe('keySlot', () => {
  it('computes the slots Redis computes (CLUSTER KEYSLOT), hash tags included', () => {
    // Values from redis-cli CLUSTER KEYSLOT on redis-server 7.0.15 (and the Cluster specification's CRC16 check value).
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('system:metrics')).toBe(10969);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('user1000')).toBe(3443);
    expect(keySlot('{user1000}.following')).toBe(3443);
    expect(keySlot('metrics{eu}:a')).toBe(keySlot('metrics{eu}:b'));
    // An empty tag is no tag: the whole name is hashed. Only the first `{…}` counts.
    expect(keySlot('foo{}{bar}')).toBe(8363);
    expect(keySlot('foo{{bar}}zap')).toBe(4015);
    expect(keySlot('{bar')).toBe(4015);
  });
});
