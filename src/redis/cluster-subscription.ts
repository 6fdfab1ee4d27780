import { EventEmitter } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import { keySlot } from './key-slot.js';

/**
 * The parts of an ioredis 6 `Cluster` that hold the subscriber connections. They are private in its
 * types, but they are the only way to reach the connection a subscription lives on: `cluster.ping()` goes
 * to an arbitrary node, which answers even when the subscriber's node is dead or hung. Read defensively:
 * when they are missing (another ioredis), the health check falls back to `cluster.ping()`.
 */
interface ClusterInternals {
  /** Classic Pub/Sub: one connection to one node, replaced by ioredis when it ends. */
  readonly subscriber?: { getInstance(): Redis | null };
  /** Sharded Pub/Sub (`shardedSubscribers: true`): one connection per master, by node key (`host:port`). */
  readonly shardedSubscribers?: { readonly shardedSubscribers?: Map<string, { getInstance(): Redis | null }> };
  /** The node keys serving each slot, master first. */
  readonly slots: readonly (readonly string[] | undefined)[];
}

/** Events of a Cluster after which the connections carrying the subscription may have changed. */
const TOPOLOGY_EVENTS = ['ready', 'close', 'end', 'refresh', '+node', '-node', '+subscriber', '-subscriber', 'subscribersReady'] as const;
/** Events of one subscriber connection that change whether it can deliver. */
const CONNECTION_EVENTS = ['ready', 'close', 'end'] as const;

const noop = (): void => {};

/**
 * Closes a subscriber connection at once, so that ioredis replaces it. Its `disconnect()` ends the socket
 * gracefully and destroys it only after `disconnectTimeout` (2 s), which a hung node never answers.
 */
function drop(connection: Redis): void {
  if (connection.stream && !connection.stream.destroyed) connection.stream.destroy();
  else connection.disconnect();
}

/** Wait before re-sending a sharded subscription that ioredis refused to register: 100 ms, doubling up to 2 s. */
function registerDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** (attempt - 1), 2000);
}

export interface ClusterSubscriptionOptions {
  readonly sharded: boolean;
  readonly channels: readonly string[];
  /**
   * A classic subscriber connection that is not ready this long after ioredis opened it is dropped, so
   * that ioredis tries another node: ioredis picks a node at random, and one that is hung (SIGSTOP)
   * accepts the TCP connection but never answers, which would otherwise last its 10 s connect timeout.
   */
  readonly connectTimeoutMs: number;
}

/**
 * The stream's subscriber on an ioredis `Cluster`, as one connection: `ready` while every connection that
 * carries one of `channels` is ready, `close` as soon as one of them is lost or replaced (ioredis replaces
 * them by itself: another node for classic Pub/Sub, the slot's new master after a failover for sharded),
 * `messageBuffer` for every message (`smessageBuffer` when sharded). `ping()` goes to those connections,
 * not to an arbitrary node, so that a hung subscriber node is noticed; `disconnect(true)` drops them so
 * that ioredis opens new ones.
 *
 * SUBSCRIBE and SSUBSCRIBE still go through the Cluster, which records the channels and re-sends them on
 * the new connection after a failover. For sharded Pub/Sub, ioredis opens a shard's subscriber connection
 * only once a channel of that shard is registered with it, so each channel is registered here as soon as
 * the Cluster is ready (retried with backoff until ioredis accepts it); later SSUBSCRIBEs, which confirm
 * the subscription on the current connection, go straight to that connection, so that ioredis's list of
 * channels does not grow with each of them.
 */
export class ClusterSubscription extends EventEmitter {
  readonly #cluster: Cluster;
  readonly #internals: ClusterInternals;
  readonly #isSharded: boolean;
  readonly #slots: ReadonlyMap<string, number>;
  readonly #registered = new Set<string>();
  #watched: readonly (Redis | null)[] = [];
  #isReady = false;
  #isClosed = false;
  #registerAttempts = 0;
  #isRegistering = false;
  readonly #connectTimeoutMs: number;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #registerTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #evaluate = (): void => this.#update();
  #deferred: ReturnType<typeof setImmediate> | undefined;
  // A connection's own events: look again right after the other listeners have run too, since ioredis
  // picks the replacement of an ended connection in its own 'end' listener.
  readonly #onConnectionEvent = (): void => {
    this.#update();
    if (this.#deferred !== undefined) return;
    this.#deferred = setImmediate(() => {
      this.#deferred = undefined;
      this.#update();
    });
    this.#deferred.unref?.();
  };
  readonly #forwardMessage = (channel: Buffer, message: Buffer): void => void this.emit('messageBuffer', channel, message);

  constructor(cluster: Cluster, options: ClusterSubscriptionOptions) {
    super();
    this.#cluster = cluster;
    this.#connectTimeoutMs = options.connectTimeoutMs;
    this.#internals = cluster as unknown as ClusterInternals;
    this.#isSharded = options.sharded;
    this.#slots = new Map(options.channels.map((channel) => [channel, keySlot(channel)]));
    for (const event of TOPOLOGY_EVENTS) cluster.on(event, this.#evaluate);
    cluster.on(this.#isSharded ? 'smessageBuffer' : 'messageBuffer', this.#forwardMessage);
    this.#update();
  }

  /** Where it connects, for logs (see `describeEndpoint`). */
  get startupNodes(): unknown {
    return (this.#cluster as unknown as { startupNodes?: unknown }).startupNodes;
  }

  /** `ready` while every connection carrying a channel is; otherwise the Cluster's own status, or `connecting`. */
  get status(): string {
    if (this.#isReady) return 'ready';
    return this.#cluster.status === 'ready' ? 'connecting' : this.#cluster.status;
  }

  subscribe(channel: string): Promise<unknown> {
    if (!this.#isSharded) return this.#cluster.subscribe(channel);
    const connection = this.#connectionFor(channel);
    if (this.#registered.has(channel) && connection && connection.status === 'ready') return connection.ssubscribe(channel);
    return this.#registerSharded(channel);
  }

  unsubscribe(channel: string): Promise<unknown> {
    if (!this.#isSharded) return this.#cluster.unsubscribe(channel);
    this.#registered.delete(channel);
    return this.#cluster.sunsubscribe(channel);
  }

  /** PINGs every connection carrying a channel; resolves when all have answered. */
  ping(): Promise<unknown> {
    if (!this.#hasInternals()) return this.#cluster.ping();
    this.#update();
    const connections = this.#distinctWatched();
    if (connections.length === 0 || connections.length !== this.#watched.length)
      return Promise.reject(new Error('no subscriber connection'));
    return Promise.all(connections.map((c) => c.ping()));
  }

  /**
   * `disconnect(true)`: drops the subscriber connections (ioredis opens new ones, on another node if it
   * must). `disconnect()`: closes the Cluster copy for good and removes every listener added here.
   */
  disconnect(reconnect = false): void {
    if (reconnect && this.#hasInternals()) {
      for (const connection of this.#distinctWatched()) drop(connection);
      return;
    }
    this.#isClosed = true;
    clearTimeout(this.#registerTimer);
    clearTimeout(this.#connectTimer);
    if (this.#deferred !== undefined) clearImmediate(this.#deferred);
    for (const event of TOPOLOGY_EVENTS) this.#cluster.off(event, this.#evaluate);
    this.#cluster.off(this.#isSharded ? 'smessageBuffer' : 'messageBuffer', this.#forwardMessage);
    this.#watch([]);
    this.#cluster.disconnect();
    if (this.#isReady) {
      this.#isReady = false;
      this.emit('close');
    }
  }

  #hasInternals(): boolean {
    return this.#isSharded
      ? this.#internals.shardedSubscribers?.shardedSubscribers instanceof Map
      : typeof this.#internals.subscriber?.getInstance === 'function';
  }

  /** The connection that carries `channel` now, if any. */
  #connectionFor(channel: string): Redis | null {
    if (!this.#isSharded) return this.#internals.subscriber?.getInstance() ?? null;
    const slot = this.#slots.get(channel) ?? keySlot(channel);
    const master = this.#internals.slots[slot]?.[0];
    return (master !== undefined && this.#internals.shardedSubscribers?.shardedSubscribers?.get(master)?.getInstance()) || null;
  }

  #distinctWatched(): Redis[] {
    return [...new Set(this.#watched.filter((c): c is Redis => c !== null))];
  }

  /** Re-reads which connections carry the channels and whether they are ready; emits `close`/`ready` on a change. */
  #update(): void {
    if (this.#isClosed) return;
    const clusterReady = this.#cluster.status === 'ready';
    if (clusterReady && this.#isSharded) this.#registerPending();
    if (!this.#hasInternals()) {
      // Without the internals, the Cluster's own status is all there is to go by.
      this.#setReady(clusterReady);
      return;
    }
    const current = this.#isSharded ? [...this.#slots.keys()].map((channel) => this.#connectionFor(channel)) : [this.#connectionFor('')];
    if (current.length !== this.#watched.length || current.some((c, i) => c !== this.#watched[i])) {
      // A new connection has none of our subscriptions confirmed yet: report the old one lost first.
      this.#setReady(false);
      this.#watch(current);
    }
    // Classic Pub/Sub: ioredis opens its subscriber connection lazily, on the first SUBSCRIBE, but the
    // stream subscribes only once the connection is ready. Open it.
    if (!this.#isSharded && clusterReady) for (const c of current) if (c?.status === 'wait') c.connect().catch(noop);
    this.#setReady(clusterReady && current.length > 0 && current.every((c) => c !== null && c.status === 'ready'));
  }

  #setReady(isReady: boolean): void {
    if (isReady === this.#isReady) return;
    this.#isReady = isReady;
    this.emit(isReady ? 'ready' : 'close');
  }

  #watch(connections: readonly (Redis | null)[]): void {
    for (const c of new Set(this.#watched)) if (c) for (const event of CONNECTION_EVENTS) c.off(event, this.#onConnectionEvent);
    this.#watched = connections;
    for (const c of new Set(connections)) if (c) for (const event of CONNECTION_EVENTS) c.on(event, this.#onConnectionEvent);
    clearTimeout(this.#connectTimer);
    const [connection] = connections;
    if (this.#isSharded || !connection || connection.status === 'ready' || this.#isClosed) return;
    this.#connectTimer = setTimeout(() => {
      if (this.#watched[0] === connection && connection.status !== 'ready' && connection.status !== 'end') drop(connection);
    }, this.#connectTimeoutMs);
    this.#connectTimer.unref?.();
  }

  /** Registers every sharded channel ioredis does not know yet; retried with backoff until it takes them all. */
  #registerPending(): void {
    if (this.#isRegistering || this.#registerTimer !== undefined) return;
    const pending = [...this.#slots.keys()].filter((channel) => !this.#registered.has(channel));
    if (pending.length === 0) return;
    this.#isRegistering = true;
    void Promise.allSettled(pending.map((channel) => this.#registerSharded(channel))).then((results) => {
      this.#isRegistering = false;
      if (this.#isClosed) return;
      if (results.every((r) => r.status === 'fulfilled')) {
        this.#registerAttempts = 0;
        this.#update();
        return;
      }
      this.#registerTimer = setTimeout(() => {
        this.#registerTimer = undefined;
        this.#update();
      }, registerDelayMs(++this.#registerAttempts));
      this.#registerTimer.unref?.();
    });
  }

  #registerSharded(channel: string): Promise<unknown> {
    return this.#cluster.ssubscribe(channel).then((count) => {
      this.#registered.add(channel);
      return count;
    });
  }
}
