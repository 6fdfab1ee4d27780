// Set-up of the Redis-backed history tests: a private redis-server, a server reading the history stream, the
// library's publisher writing it, ws clients; each disposed of after its test.
import { afterEach } from 'vitest';
import { createSystemPublisher, type SystemPublisher } from '../../src/publisher/publisher.js';
import type { SystemStreamOptions } from '../../src/server/options.js';
import { startRedis, type TestRedis } from './redis.js';
import { startServer, type TestServer } from './server.js';
import { connectOpen, type TestClient } from './ws-client.js';

export interface HistoryFixtures {
  defer(dispose: () => unknown): void;
  /** A redis-server of this test's own, with `args` added to its command line. */
  redisServer(args?: readonly string[]): Promise<TestRedis>;
  /** A ready server with `historyStream: true`, no throttling and key "k", unless `options` say otherwise. */
  server(redis: TestRedis, channel: string, options?: Partial<SystemStreamOptions>): Promise<TestServer>;
  publisher(redis: TestRedis, channel: string, historyStream?: boolean | string): SystemPublisher;
  /** An open client with key "k" and `query` appended. */
  client(s: TestServer, query?: string): Promise<TestClient>;
}

export function useHistoryFixtures(): HistoryFixtures {
  const disposers: (() => unknown)[] = [];
  const defer = (dispose: () => unknown): void => void disposers.push(dispose);
  afterEach(async () => {
    for (const dispose of disposers.splice(0).reverse()) await dispose();
  });
  return {
    defer,
    async redisServer(args) {
      const redis = await startRedis(args === undefined ? {} : { args });
      defer(() => redis.stop());
      return redis;
    },
    async server(redis, channel, options = {}) {
      const s = await startServer({ redis: redis.url, channel, apiKeys: ['k'], historyStream: true, throttleMs: 0, ...options });
      defer(() => s.close());
      await s.stream.ready;
      return s;
    },
    publisher(redis, channel, historyStream = true) {
      const p = createSystemPublisher({ redis: redis.url, channel, historyStream });
      defer(() => p.close());
      return p;
    },
    async client(s, query = '') {
      const c = await connectOpen(s.wsUrl(`api_key=k${query}`));
      defer(() => c.close());
      return c;
    },
  };
}
