import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { fromRedisChannel, resubscribeDelayMs } from '../../../src/redis/channel-source.js';

/** A subscriber connection whose SUBSCRIBE replies the test settles by hand, in order. */
class FakeSubscriber extends EventEmitter {
  status = 'connecting';
  readonly replies: { resolve(): void; reject(err: Error): void }[] = [];
  readonly unsubscribed: string[] = [];
  subscribe(_channel: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.replies.push({ resolve: () => resolve(1), reject }));
  }
  async unsubscribe(channel: string): Promise<unknown> {
    this.unsubscribed.push(channel);
    return 0;
  }
  connect(): void {
    this.status = 'ready';
    this.emit('ready');
  }
  drop(): void {
    this.status = 'reconnecting';
    this.emit('close');
  }
}

const noperm = (): Error =>
  Object.assign(new Error('NOPERM this user has no permissions to access one of the channels'), { name: 'ReplyError' });

let redis: FakeSubscriber;
let events: { onSubscribed: Mock<() => void>; onRefused: Mock<(err: unknown, attempt: number) => void> };
beforeEach(() => {
  vi.useFakeTimers();
  redis = new FakeSubscriber();
  events = { onSubscribed: vi.fn<() => void>(), onRefused: vi.fn<(err: unknown, attempt: number) => void>() };
});
afterEach(() => {
  vi.useRealTimers();
});

describe('fromRedisChannel', () => {
  it("sends SUBSCRIBE on 'ready', and again after every reconnect", async () => {
    const sub = fromRedisChannel(redis, 'ch', events).subscribe();
    expect(redis.replies).toHaveLength(0); // not before the connection is ready
    redis.connect();
    redis.connect(); // a second 'ready' on the same connection sends nothing more
    expect(redis.replies).toHaveLength(1);
    redis.replies[0]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(events.onSubscribed).toHaveBeenCalledTimes(1);
    redis.drop();
    redis.connect();
    expect(redis.replies).toHaveLength(2);
    redis.replies[1]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(events.onSubscribed).toHaveBeenCalledTimes(2);
    sub.unsubscribe();
  });

  it('subscribes at once on a connection that is already ready', () => {
    redis.status = 'ready';
    const sub = fromRedisChannel(redis, 'ch', events).subscribe();
    expect(redis.replies).toHaveLength(1);
    sub.unsubscribe();
  });

  it('reports a refused SUBSCRIBE and retries it with backoff, without erroring, until it succeeds', async () => {
    const error = vi.fn();
    const sub = fromRedisChannel(redis, 'ch', events).subscribe({ error });
    redis.connect();
    for (let attempt = 1; attempt <= 6; attempt++) {
      redis.replies[attempt - 1]!.reject(noperm());
      await vi.advanceTimersByTimeAsync(0);
      expect(events.onRefused).toHaveBeenLastCalledWith(expect.objectContaining({ name: 'ReplyError' }), attempt);
      await vi.advanceTimersByTimeAsync(resubscribeDelayMs(attempt) - 1);
      expect(redis.replies).toHaveLength(attempt);
      await vi.advanceTimersByTimeAsync(1);
      expect(redis.replies).toHaveLength(attempt + 1);
    }
    expect([1, 2, 3, 4, 5, 6].map(resubscribeDelayMs)).toEqual([100, 200, 400, 800, 1600, 2000]);
    redis.replies[6]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(events.onSubscribed).toHaveBeenCalledTimes(1);
    expect(error).not.toHaveBeenCalled();
    // The count starts again after a success.
    redis.drop();
    redis.connect();
    redis.replies[7]!.reject(noperm());
    await vi.advanceTimersByTimeAsync(0);
    expect(events.onRefused).toHaveBeenLastCalledWith(expect.anything(), 1);
    sub.unsubscribe();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ignores the reply to a SUBSCRIBE sent on an older connection, and cancels its retry', async () => {
    const sub = fromRedisChannel(redis, 'ch', events).subscribe();
    redis.connect();
    redis.replies[0]!.reject(noperm());
    await vi.advanceTimersByTimeAsync(0);
    redis.drop();
    expect(vi.getTimerCount()).toBe(0); // the retry waits for the next 'ready' instead
    redis.connect();
    const stale = redis.replies.length;
    redis.drop();
    redis.connect();
    redis.replies[stale - 1]!.resolve(); // answered after its connection was lost
    await vi.advanceTimersByTimeAsync(0);
    expect(events.onSubscribed).not.toHaveBeenCalled();
    redis.replies[stale]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(events.onSubscribed).toHaveBeenCalledTimes(1);
    sub.unsubscribe();
  });

  it("emits only its channel's messages, and on teardown unsubscribes and removes its listeners", () => {
    const received: string[] = [];
    const sub = fromRedisChannel(redis, 'ch', events).subscribe((m) => received.push(m.toString()));
    redis.connect();
    redis.emit('messageBuffer', Buffer.from('ch'), Buffer.from('a'));
    redis.emit('messageBuffer', Buffer.from('other'), Buffer.from('b'));
    sub.unsubscribe();
    redis.emit('messageBuffer', Buffer.from('ch'), Buffer.from('c'));
    expect(received).toEqual(['a']);
    expect(redis.unsubscribed).toEqual(['ch']);
    expect(redis.listenerCount('messageBuffer') + redis.listenerCount('ready') + redis.listenerCount('close')).toBe(0);
  });
});
