import { afterAll, afterEach, beforeAll } from 'vitest';
import { startRedis, type TestRedis } from './redis.js';
import { startServer, type TestServer } from './server.js';
import type { SystemStreamOptions } from '../../src/server/options.js';
import type { TestClient } from './ws-client.js';

/**
 * One private redis-server per test file, and per-test disposal of every server and client a test
 * registers, so tests stay independent and files can run in parallel.
 */
export function useStreamFixtures(): {
  redis: () => TestRedis;
  /** Starts a server on a fresh channel with key "k" unless options say otherwise. */
  server: (options?: SystemStreamOptions, mountRouter?: boolean) => Promise<TestServer & { channel: string }>;
  track: <T extends TestClient>(client: T) => T;
  defer: (dispose: () => unknown) => void;
} {
  let redis: TestRedis | undefined;
  const disposers: (() => unknown)[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const dispose of disposers.splice(0).reverse()) await dispose();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const current = (): TestRedis => {
    if (!redis) throw new Error('redis not started');
    return redis;
  };
  return {
    redis: current,
    async server(options = {}, mountRouter = true) {
      // A list of channels is passed as it is; `channel` is then its first.
      const channel = typeof options.channel === 'string' ? options.channel : (options.channel?.[0] ?? current().channel());
      const hasAuth = options.apiKeys || options.authenticate || options.auth === false;
      const server = await startServer({ redis: current().url, channel, ...(hasAuth ? {} : { apiKeys: ['k'] }), ...options }, mountRouter);
      disposers.push(() => server.close());
      await server.stream.ready;
      return Object.assign(server, { channel });
    },
    track(client) {
      disposers.push(() => client.close());
      return client;
    },
    defer(dispose) {
      disposers.push(dispose);
    },
  };
}
