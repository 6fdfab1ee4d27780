import { EventEmitter, getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { whenReady } from '../../../src/redis/when-ready.js';
import { isSettled, rejection } from '../../helpers/rejection.js';

/** A client's readiness as ioredis shows it: a status and 'ready'/'end' events. */
class FakeClient extends EventEmitter {
  status = 'connecting';
  readonly connect = vi.fn(() => Promise.reject(new Error('connect ECONNREFUSED')));
  becomeReady(): void {
    this.status = 'ready';
    this.emit('ready');
  }
}

let client: FakeClient;
beforeEach(() => {
  vi.useFakeTimers();
  client = new FakeClient();
});
afterEach(() => {
  vi.useRealTimers();
});

const listeners = (): number => client.listenerCount('ready') + client.listenerCount('end');

describe('whenReady', () => {
  it('resolves at once for a ready client and for a stand-in without status or events', async () => {
    client.status = 'ready';
    await expect(whenReady(client)).resolves.toBeUndefined();
    await expect(whenReady({})).resolves.toBeUndefined();
    await expect(whenReady({ status: 'connecting' })).resolves.toBeUndefined();
    expect(listeners()).toBe(0);
  });

  it("waits for 'ready' with one pair of listeners however many calls wait, and removes them after", async () => {
    const waits = Array.from({ length: 50 }, () => whenReady(client, { timeoutMs: 1000 }));
    expect(listeners()).toBe(2);
    expect(await isSettled(waits[0]!)).toBe(false);
    client.becomeReady();
    await expect(Promise.all(waits)).resolves.toHaveLength(50);
    expect(listeners()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with SST_ERR_REDIS_UNAVAILABLE after timeoutMs, and not a millisecond before', async () => {
    const wait = rejection(whenReady(client, { timeoutMs: 500 }));
    await vi.advanceTimersByTimeAsync(499);
    expect(await isSettled(wait)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await wait;
    expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
    expect(err.message).toBe('Redis unavailable: not connected within 500 ms');
    expect(listeners()).toBe(0);
  });

  it('waits for as long as it takes when timeoutMs is 0', async () => {
    const wait = whenReady(client);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(await isSettled(wait)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    client.becomeReady();
    await expect(wait).resolves.toBeUndefined();
  });

  it('rejects at once for a client that has ended, and every waiter when it ends', async () => {
    const waiting = rejection(whenReady(client));
    client.status = 'end';
    client.emit('end');
    expect((await waiting).message).toBe('Redis unavailable: the Redis connection was closed');
    expect((await rejection(whenReady(client))).code).toBe('SST_ERR_REDIS_UNAVAILABLE');
    expect(listeners()).toBe(0);
  });

  it('rejects at once past maxWaiting calls on the same client', async () => {
    const waits = Array.from({ length: 3 }, () => whenReady(client, { maxWaiting: 3 }));
    const err = await rejection(whenReady(client, { maxWaiting: 3 }));
    expect(err.message).toBe('Redis unavailable: 3 calls are already waiting for Redis');
    // Another client has its own count.
    const other = new FakeClient();
    const otherWait = whenReady(other, { maxWaiting: 3 });
    client.becomeReady();
    other.becomeReady();
    await Promise.all([...waits, otherWait]);
  });

  it("rejects only the waiters of an aborted signal, with its reason, using one 'abort' listener per signal", async () => {
    const shutdown = new AbortController();
    const mine = Array.from({ length: 20 }, () => whenReady(client, { signal: shutdown.signal }).catch((err: unknown) => err));
    const theirs = whenReady(client);
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
    const reason = new Error('closed');
    shutdown.abort(reason);
    for (const err of await Promise.all(mine)) expect(err).toBe(reason);
    expect(await isSettled(theirs)).toBe(false);
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    await expect(whenReady(client, { signal: shutdown.signal })).rejects.toBe(reason);
    client.becomeReady();
    await theirs;
  });

  it('connects a lazyConnect client (status wait), which no waiting would otherwise do, and survives a failed connect', async () => {
    client.status = 'wait';
    const wait = whenReady(client, { timeoutMs: 1000 });
    expect(client.connect).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(10); // the connect() rejection is handled
    client.becomeReady();
    await expect(wait).resolves.toBeUndefined();
  });
});
