import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createReadyDeadline, STILL_WAITING_LOG_MS } from '../../../src/redis/ready-deadline.js';
import { isSettled, rejection } from '../../helpers/rejection.js';
import { recordingLogger } from '../../helpers/logger.js';

let logger: ReturnType<typeof recordingLogger>;
beforeEach(() => {
  vi.useFakeTimers();
  logger = recordingLogger();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createReadyDeadline', () => {
  it('logs at warn where it is still waiting after 2 s, once', async () => {
    const { promise } = createReadyDeadline({ timeoutMs: 0, endpoint: '127.0.0.1:1', logger });
    await vi.advanceTimersByTimeAsync(STILL_WAITING_LOG_MS - 1);
    expect(logger.warnings()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(logger.warnings()).toEqual([
      { obj: { endpoint: '127.0.0.1:1', waitedMs: 2000 }, msg: 'still waiting for redis; stream.ready is pending' },
    ]);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(logger.warnings()).toHaveLength(1);
    expect(await isSettled(promise)).toBe(false); // timeoutMs 0: never rejects by itself
  });

  it('rejects with SST_ERR_REDIS_UNAVAILABLE at timeoutMs, naming the endpoint', async () => {
    const { promise } = createReadyDeadline({ timeoutMs: 10_000, endpoint: '127.0.0.1:1', logger });
    await vi.advanceTimersByTimeAsync(9_999);
    expect(await isSettled(promise)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await rejection(promise);
    expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
    expect(err.message).toBe('Redis at 127.0.0.1:1 was not ready within 10000 ms; the stream keeps retrying');
    expect(logger.warnings().map((w) => w.msg)).toEqual([
      'still waiting for redis; stream.ready is pending',
      'redis not ready within readyTimeoutMs; stream.ready rejected, still retrying',
    ]);
  });

  it('settles once: a resolve clears both timers, and later calls change nothing', async () => {
    const { promise, settle } = createReadyDeadline({ timeoutMs: 500, endpoint: 'x', logger });
    settle();
    settle(new Error('too late'));
    await expect(promise).resolves.toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(logger.warnings()).toEqual([]);
  });

  it('rejects with the error it is settled with, before its deadline', async () => {
    const { promise, settle } = createReadyDeadline({ timeoutMs: 500, endpoint: 'x', logger });
    const refused = new Error('NOPERM');
    settle(refused);
    await expect(promise).rejects.toBe(refused);
    expect(vi.getTimerCount()).toBe(0);
  });
});
