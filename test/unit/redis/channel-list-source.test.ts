import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { fromRedisChannels } from '../../../src/redis/channel-list-source.js';

/** A ready connection whose SUBSCRIBE replies the test settles by hand, per channel. */
class FakeSubscriber extends EventEmitter {
  status = 'ready';
  readonly replies = new Map<string, { resolve(): void; reject(err: Error): void }[]>();
  subscribe(channel: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const list = this.replies.get(channel) ?? [];
      list.push({ resolve: () => resolve(1), reject });
      this.replies.set(channel, list);
    });
  }
  async unsubscribe(): Promise<unknown> {
    return 0;
  }
  reply(channel: string, index = 0): void {
    this.replies.get(channel)?.[index]?.resolve();
  }
  reconnect(): void {
    this.status = 'reconnecting';
    this.emit('close');
    this.status = 'ready';
    this.emit('ready');
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('fromRedisChannels', () => {
  it('subscribes to each channel on its own and reports subscribed once all are confirmed, after every reconnect', async () => {
    const redis = new FakeSubscriber();
    const events = { onSubscribed: vi.fn(), onRefused: vi.fn() };
    const received: string[] = [];
    const sub = fromRedisChannels(redis, ['a', 'b', 'c'], events).subscribe((m) => received.push(m.toString()));
    expect([...redis.replies.keys()]).toEqual(['a', 'b', 'c']);
    redis.reply('a');
    redis.reply('b');
    await flush();
    expect(events.onSubscribed).not.toHaveBeenCalled();
    redis.reply('c');
    await flush();
    expect(events.onSubscribed).toHaveBeenCalledTimes(1);

    // After a reconnect, every channel must be confirmed again.
    redis.reconnect();
    redis.reply('a', 1);
    redis.reply('b', 1);
    await flush();
    expect(events.onSubscribed).toHaveBeenCalledTimes(1);
    redis.reply('c', 1);
    await flush();
    expect(events.onSubscribed).toHaveBeenCalledTimes(2);

    // Messages of every channel, and of no other.
    for (const channel of ['a', 'x', 'c']) redis.emit('messageBuffer', Buffer.from(channel), Buffer.from(`m-${channel}`));
    expect(received).toEqual(['m-a', 'm-c']);
    sub.unsubscribe();
    expect(redis.listenerCount('close')).toBe(0);
    expect(redis.listenerCount('messageBuffer')).toBe(0);
  });

  it('passes every refusal on', async () => {
    const redis = new FakeSubscriber();
    const events = { onSubscribed: vi.fn(), onRefused: vi.fn() };
    const sub = fromRedisChannels(redis, ['a', 'b'], events, () => 60_000).subscribe();
    redis.replies.get('b')?.[0]?.reject(new Error('NOPERM'));
    redis.reply('a');
    await flush();
    expect(events.onRefused).toHaveBeenCalledWith(expect.any(Error), 1);
    expect(events.onSubscribed).not.toHaveBeenCalled();
    sub.unsubscribe();
  });
});
