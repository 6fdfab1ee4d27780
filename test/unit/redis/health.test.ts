import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import type { Logger } from '../../../src/shared/logger.js';
import { watchRedisHealth, type RedisDownReason, type RedisHealth, type RedisState } from '../../../src/redis/health.js';

interface Deferred {
  resolve(): void;
  reject(err: Error): void;
}

/** A subscriber connection whose PING (and fallback) replies the test settles by hand. */
class FakeRedis extends EventEmitter {
  status = 'ready';
  readonly pings: Deferred[] = [];
  readonly disconnect: Mock<(reconnect?: boolean) => void> = vi.fn();
  ping(): Promise<unknown> {
    return new Promise((resolve, reject) => this.pings.push({ resolve: () => resolve('PONG'), reject }));
  }
  drop(): void {
    this.status = 'reconnecting';
    this.emit('close');
  }
}

const INTERVAL_MS = 1000;
const replyError = (message: string): Error => Object.assign(new Error(message), { name: 'ReplyError' });

let redis: FakeRedis;
let changes: [RedisState, RedisDownReason | undefined][];
let fallbacks: Deferred[];
let infos: string[];
let health: RedisHealth;

beforeEach(() => {
  vi.useFakeTimers();
  redis = new FakeRedis();
  changes = [];
  fallbacks = [];
  infos = [];
  const noop = (): void => {};
  const logger: Logger = { debug: noop, warn: noop, error: noop, info: (_o, m) => void infos.push(m ?? '') };
  const fallbackProbe = (): Promise<unknown> => new Promise((resolve, reject) => fallbacks.push({ resolve: () => resolve(1), reject }));
  health = watchRedisHealth(
    redis,
    { intervalMs: INTERVAL_MS, fallbackProbe, logger },
    (state, reason) => void changes.push([state, reason]),
  );
});
afterEach(() => {
  health.stop();
  vi.useRealTimers();
});

/** subscribed(), then the PING it sends answered: state up. */
async function bringUp(): Promise<void> {
  health.subscribed();
  redis.pings.at(-1)!.resolve();
  await vi.advanceTimersByTimeAsync(0);
  expect(health.state).toBe('up');
}

describe('watchRedisHealth', () => {
  describe('probe after the subscription is confirmed', () => {
    it("sends no PING while the subscription is not confirmed, even with the connection 'ready'", async () => {
      redis.emit('ready');
      await vi.advanceTimersByTimeAsync(5 * INTERVAL_MS);
      expect(redis.pings).toHaveLength(0);
      expect(health.state).toBe('connecting');
      expect(changes).toEqual([]);
    });

    it('probes at once on subscribed(), and is up only when that PING is answered', async () => {
      health.subscribed();
      expect(redis.pings).toHaveLength(1);
      expect(health.state).toBe('connecting');
      redis.pings[0]!.resolve();
      await vi.advanceTimersByTimeAsync(0);
      expect(health.state).toBe('up');
      expect(changes).toEqual([['up', undefined]]);
    });

    it('then checks every intervalMs, one PING at a time', async () => {
      await bringUp();
      await vi.advanceTimersByTimeAsync(INTERVAL_MS);
      expect(redis.pings).toHaveLength(2);
      redis.pings[1]!.resolve();
      await vi.advanceTimersByTimeAsync(INTERVAL_MS - 1);
      expect(redis.pings).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(redis.pings).toHaveLength(3);
      expect(changes).toEqual([['up', undefined]]);
    });
  });

  describe('connection loss and the generation counter', () => {
    it("marks down at once on 'close' (connection_lost), and probes again only after a new subscribed()", async () => {
      await bringUp();
      redis.drop();
      expect(changes).toEqual([
        ['up', undefined],
        ['down', 'connection_lost'],
      ]);
      redis.status = 'ready';
      redis.emit('ready');
      await vi.advanceTimersByTimeAsync(3 * INTERVAL_MS);
      expect(redis.pings).toHaveLength(1);
      await bringUp();
    });

    it('ignores a PING answered on an older connection, and its timeout', async () => {
      health.subscribed();
      const old = redis.pings[0]!;
      redis.drop();
      redis.status = 'ready';
      health.subscribed(); // the new connection's subscription
      const current = redis.pings[1]!;
      old.resolve();
      await vi.advanceTimersByTimeAsync(0);
      expect(health.state).toBe('down');
      current.resolve();
      await vi.advanceTimersByTimeAsync(0);
      expect(health.state).toBe('up');
      await vi.advanceTimersByTimeAsync(INTERVAL_MS + 1);
      expect(redis.disconnect).not.toHaveBeenCalled();
      expect(changes).toEqual([
        ['down', 'connection_lost'],
        ['up', undefined],
      ]);
    });
  });

  describe('ping timeout', () => {
    it('marks down (ping_timeout) and forces a reconnect when a PING is not answered within intervalMs', async () => {
      await bringUp();
      await vi.advanceTimersByTimeAsync(INTERVAL_MS); // second PING, never answered
      await vi.advanceTimersByTimeAsync(INTERVAL_MS - 1);
      expect(health.state).toBe('up');
      await vi.advanceTimersByTimeAsync(1);
      await vi.advanceTimersToNextTimerAsync(); // the verdict waits one turn (setImmediate)
      expect(health.state).toBe('down');
      expect(changes.at(-1)).toEqual(['down', 'ping_timeout']);
      expect(redis.disconnect).toHaveBeenCalledExactlyOnceWith(true);
      // The answer, when it comes late, counts for nothing.
      redis.pings[1]!.resolve();
      await vi.advanceTimersByTimeAsync(0);
      expect(health.state).toBe('down');
    });

    it('counts an answer read in the same turn as the timeout (the event loop was blocked): no false down', async () => {
      await bringUp();
      await vi.advanceTimersByTimeAsync(INTERVAL_MS); // second PING
      // Due with the PING's timeout but created after it, so it runs after the timeout and before anything
      // the timeout defers: as a reply that sat in the socket while the loop was blocked.
      setTimeout(() => redis.pings[1]!.resolve(), INTERVAL_MS);
      await vi.advanceTimersByTimeAsync(INTERVAL_MS);
      await vi.advanceTimersToNextTimerAsync(); // the deferred verdict
      expect(changes.at(-1)).toEqual(['up', undefined]);
      expect(health.state).toBe('up');
      expect(redis.disconnect).not.toHaveBeenCalled();
    });

    it('does not count a failed connection (no reply) as an answer, and retries at the next interval', async () => {
      health.subscribed();
      redis.pings[0]!.reject(new Error('Connection is closed.'));
      await vi.advanceTimersByTimeAsync(0);
      expect(health.state).toBe('connecting');
      await vi.advanceTimersByTimeAsync(INTERVAL_MS);
      expect(redis.pings).toHaveLength(2);
      expect(redis.disconnect).not.toHaveBeenCalled();
    });
  });

  describe('replies that are errors', () => {
    it('counts an error reply (LOADING) as an answer and keeps PINGing', async () => {
      health.subscribed();
      redis.pings[0]!.reject(replyError('LOADING Redis is loading the dataset in memory'));
      await vi.advanceTimersByTimeAsync(0);
      expect(health.state).toBe('up');
      await vi.advanceTimersByTimeAsync(INTERVAL_MS);
      expect(redis.pings).toHaveLength(2);
      expect(fallbacks).toHaveLength(0);
    });

    it('after a NOPERM for PING, counts it as an answer, logs once and checks with the fallback from then on', async () => {
      health.subscribed();
      redis.pings[0]!.reject(replyError("NOPERM this user has no permissions to run the 'ping' command"));
      await vi.advanceTimersByTimeAsync(0);
      expect(health.state).toBe('up');
      for (let i = 0; i < 3; i++) {
        await vi.advanceTimersByTimeAsync(INTERVAL_MS);
        fallbacks.at(-1)!.resolve();
      }
      expect(fallbacks).toHaveLength(3);
      expect(redis.pings).toHaveLength(1);
      expect(infos.filter((m) => m.includes('may not PING'))).toHaveLength(1);
      // The fallback is timed like PING.
      await vi.advanceTimersByTimeAsync(2 * INTERVAL_MS);
      await vi.advanceTimersToNextTimerAsync(); // the verdict waits one turn (setImmediate)
      expect(changes.at(-1)).toEqual(['down', 'ping_timeout']);
    });
  });

  it('refused(): down with subscribe_refused, and no PING until the next subscribed()', async () => {
    await bringUp();
    health.refused();
    expect(changes.at(-1)).toEqual(['down', 'subscribe_refused']);
    await vi.advanceTimersByTimeAsync(3 * INTERVAL_MS);
    expect(redis.pings).toHaveLength(1);
    await bringUp();
  });

  it('stop(): clears its timer, removes its listener, is closed and reports nothing more', async () => {
    health.subscribed();
    const pending = redis.pings[0]!;
    health.stop();
    expect(health.state).toBe('closed');
    expect(redis.listenerCount('close')).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    pending.resolve();
    redis.emit('close');
    health.subscribed();
    health.refused();
    await vi.advanceTimersByTimeAsync(5 * INTERVAL_MS);
    expect(health.state).toBe('closed');
    expect(changes).toEqual([]);
    expect(redis.pings).toHaveLength(1);
  });
});
