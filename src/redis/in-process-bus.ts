import { EventEmitter } from 'node:events';
import type { RedisLike } from './redis-connection.js';

/**
 * A Pub/Sub channel inside one process, for single-process deployments, demos and tests: pass it as
 * `redis` to `attachSystemStream`, `createSystemPublisher` and `startSentinel`, and messages flow with no
 * Redis server. It implements the few ioredis calls those make. Messages are delivered asynchronously
 * (next microtask), in publish order, as Redis would; nothing is stored or replayed.
 * @public
 */
export interface InProcessBus extends RedisLike {
  /** Subscriber connections currently open on this bus. */
  readonly subscriberCount: number;
}

/**
 * Creates an {@link InProcessBus}.
 * @public
 */
export function createInProcessBus(): InProcessBus {
  const subscribers = new Set<BusConnection>();
  const publish = async (channel: string, message: string | Buffer): Promise<number> => {
    const bytes = Buffer.isBuffer(message) ? message : Buffer.from(message);
    const channelBytes = Buffer.from(channel);
    let receivers = 0;
    for (const connection of subscribers) if (connection.channels.has(channel)) receivers++;
    queueMicrotask(() => {
      for (const connection of subscribers) {
        if (connection.channels.has(channel)) connection.emit('messageBuffer', channelBytes, bytes);
      }
    });
    return receivers;
  };

  class BusConnection extends EventEmitter {
    status = 'ready';
    readonly channels = new Set<string>();
    constructor() {
      super();
      subscribers.add(this);
      queueMicrotask(() => this.emit('ready'));
    }
    async subscribe(...channels: string[]): Promise<number> {
      for (const channel of channels) this.channels.add(channel);
      return this.channels.size;
    }
    async unsubscribe(...channels: string[]): Promise<number> {
      for (const channel of channels) this.channels.delete(channel);
      return this.channels.size;
    }
    async ping(): Promise<string> {
      return 'PONG';
    }
    publish(channel: string, message: string | Buffer): Promise<number> {
      return publish(channel, message);
    }
    duplicate(): BusConnection {
      return new BusConnection();
    }
    disconnect(): void {
      if (this.status === 'end') return;
      this.status = 'end';
      subscribers.delete(this);
      this.emit('close');
      this.emit('end');
    }
    async quit(): Promise<'OK'> {
      this.disconnect();
      return 'OK';
    }
  }

  return {
    duplicate: () => new BusConnection(),
    publish,
    get subscriberCount() {
      return subscribers.size;
    },
  };
}
