import { EventEmitter } from 'node:events';
import type { Cluster } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClusterSubscription } from '../../../src/redis/cluster-subscription.js';
import { keySlot } from '../../../src/redis/key-slot.js';

/** A subscriber connection as ioredis's Cluster holds it. */
class FakeConnection extends EventEmitter {
  status = 'wait';
  readonly stream = { destroyed: false, destroy: vi.fn(() => this.lose()) };
  readonly ping = vi.fn(async () => 'PONG');
  readonly ssubscribe = vi.fn(async () => 1);
  connect = vi.fn(async () => {
    this.status = 'connecting';
  });
  ready(): void {
    this.status = 'ready';
    this.emit('ready');
  }
  lose(): void {
    this.status = 'end';
    this.emit('close');
    this.emit('end');
  }
  disconnect(): void {
    this.lose();
  }
}

/** The parts of ioredis's Cluster the subscription reads, public and private. */
class FakeCluster extends EventEmitter {
  readonly isCluster = true;
  status = 'connecting';
  readonly startupNodes = [{ host: '127.0.0.1', port: 7000 }];
  readonly slots: string[][] = [];
  classic: FakeConnection | null = null;
  readonly subscriber = { getInstance: () => this.classic };
  readonly shardedSubscribers = { shardedSubscribers: new Map<string, { getInstance(): FakeConnection | null }>() };
  readonly subscribe = vi.fn(async () => 1);
  readonly ssubscribe = vi.fn(async (_channel: string) => 1);
  readonly ping = vi.fn(async () => 'PONG');
  readonly disconnect = vi.fn();
  becomeReady(): void {
    this.status = 'ready';
    this.emit('ready');
  }
  /** Node `key` serves `channel`'s slot, through `connection`. */
  shard(channel: string, key: string, connection: FakeConnection): void {
    this.slots[keySlot(channel)] = [key];
    this.shardedSubscribers.shardedSubscribers.set(key, { getInstance: () => connection });
  }
}

function open(cluster: FakeCluster, sharded: boolean, channels = ['ch']): { sub: ClusterSubscription; events: string[] } {
  const sub = new ClusterSubscription(cluster as unknown as Cluster, { sharded, channels, connectTimeoutMs: 2000 });
  const events: string[] = [];
  sub.on('ready', () => events.push('ready'));
  sub.on('close', () => events.push('close'));
  return { sub, events };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ClusterSubscription, classic Pub/Sub', () => {
  it('is ready only once the Cluster and its subscriber connection are, opening that lazy connection itself', () => {
    const cluster = new FakeCluster();
    const { sub, events } = open(cluster, false);
    expect(sub.status).toBe('connecting');
    cluster.classic = new FakeConnection();
    cluster.becomeReady();
    expect(cluster.classic.connect).toHaveBeenCalledTimes(1);
    expect(sub.status).toBe('connecting');
    cluster.classic.ready();
    expect([sub.status, events]).toEqual(['ready', ['ready']]);
  });

  it('reports close when ioredis replaces the connection, and ready again once the new one is', () => {
    const cluster = new FakeCluster();
    const first = (cluster.classic = new FakeConnection());
    const { sub, events } = open(cluster, false);
    cluster.becomeReady();
    first.ready();
    const second = new FakeConnection();
    // ioredis picks the next node in its own 'end' listener (here one that runs after the subscription's).
    first.once('end', () => (cluster.classic = second));
    first.lose();
    expect(events).toEqual(['ready', 'close']);
    vi.advanceTimersByTime(0);
    expect(second.connect).toHaveBeenCalledTimes(1);
    second.ready();
    expect(events).toEqual(['ready', 'close', 'ready']);
    expect(first.listenerCount('ready')).toBe(0);
    sub.disconnect();
  });

  it("PINGs the subscriber's own connection, not an arbitrary node; disconnect(true) destroys its socket at once", async () => {
    const cluster = new FakeCluster();
    const connection = (cluster.classic = new FakeConnection());
    const { sub } = open(cluster, false);
    cluster.becomeReady();
    connection.ready();
    await sub.ping();
    expect(connection.ping).toHaveBeenCalledTimes(1);
    expect(cluster.ping).not.toHaveBeenCalled();
    sub.disconnect(true);
    expect(connection.stream.destroy).toHaveBeenCalledTimes(1);
    expect(cluster.disconnect).not.toHaveBeenCalled();
  });

  it('drops a connection that is not ready within connectTimeoutMs (a hung node accepts but never answers)', () => {
    const cluster = new FakeCluster();
    const hung = (cluster.classic = new FakeConnection());
    open(cluster, false);
    cluster.becomeReady();
    vi.advanceTimersByTime(1999);
    expect(hung.stream.destroy).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(hung.stream.destroy).toHaveBeenCalledTimes(1);
  });

  it('disconnect() closes the Cluster copy and removes every listener it added', () => {
    const cluster = new FakeCluster();
    const connection = (cluster.classic = new FakeConnection());
    const { sub, events } = open(cluster, false);
    cluster.becomeReady();
    connection.ready();
    sub.disconnect();
    expect(cluster.disconnect).toHaveBeenCalledTimes(1);
    expect(events).toEqual(['ready', 'close']);
    expect(cluster.eventNames()).toEqual([]);
    expect(connection.eventNames()).toEqual([]);
  });
});

describe('ClusterSubscription, sharded Pub/Sub', () => {
  it('registers each channel with ioredis once the Cluster is ready, retrying a refusal with backoff', async () => {
    const cluster = new FakeCluster();
    cluster.ssubscribe.mockRejectedValueOnce(new Error('MOVED'));
    const { sub } = open(cluster, true, ['a', 'b']);
    expect(cluster.ssubscribe).not.toHaveBeenCalled();
    cluster.becomeReady();
    expect(cluster.ssubscribe.mock.calls.map(([c]) => c)).toEqual(['a', 'b']);
    await vi.advanceTimersByTimeAsync(99);
    expect(cluster.ssubscribe).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    // Only the refused one is sent again.
    expect(cluster.ssubscribe.mock.calls.map(([c]) => c)).toEqual(['a', 'b', 'a']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(cluster.ssubscribe).toHaveBeenCalledTimes(3);
    sub.disconnect();
  });

  it("is ready when every channel's shard connection is; confirms SSUBSCRIBE on that connection, not through the Cluster again", async () => {
    const cluster = new FakeCluster();
    const [one, two] = [new FakeConnection(), new FakeConnection()];
    cluster.shard('a', '127.0.0.1:7000', one);
    cluster.shard('b', '127.0.0.1:7001', two);
    const { sub, events } = open(cluster, true, ['a', 'b']);
    cluster.becomeReady();
    await vi.advanceTimersByTimeAsync(0);
    one.ready();
    expect(sub.status).toBe('connecting');
    two.ready();
    expect(events).toEqual(['ready']);
    await sub.subscribe('b');
    expect(two.ssubscribe).toHaveBeenCalledWith('b');
    expect(cluster.ssubscribe).toHaveBeenCalledTimes(2); // the two registrations only
    await sub.ping();
    expect([one.ping.mock.calls.length, two.ping.mock.calls.length]).toEqual([1, 1]);

    // Failover: the slot moves to another node's connection.
    const promoted = new FakeConnection();
    two.lose();
    expect(events).toEqual(['ready', 'close']);
    cluster.shard('b', '127.0.0.1:7004', promoted);
    cluster.emit('+subscriber');
    promoted.ready();
    expect(events).toEqual(['ready', 'close', 'ready']);
    sub.disconnect();
  });
});
