import { once } from 'node:events';
import http from 'node:http';
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { attachSystemStream } from '../../src/server/attach.js';
import type { SystemStream } from '../../src/server/stream.js';
import { StreamManager } from '../../src/client/stream-manager.js';
import type { StreamManagerEventMap, StreamManagerOptions, StreamStatus } from '../../src/client/types.js';
import type { SystemStreamOptions } from '../../src/server/options.js';
import type { Envelope } from '../../src/protocol/wire.js';
import { ConformingWebSocket } from '../helpers/conformance.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { alert, metric } from '../helpers/fixtures.js';
import { connectOpen } from '../helpers/ws-client.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';

// Clock choice: the reconnect waits go through injected timers that the test releases one at a time,
// while everything else is real (redis-server, the Express server, ws sockets, refused TCP connects).
// - A real clock would make this file wait 2 + 5 + 10 = 17 s for the default schedule.
// - vi.useFakeTimers() would also freeze the timers of ioredis's reconnects, the server's Redis health
//   check and the close grace period of stream.close(), which this test needs to run for real.
// What is asserted is the wait each attempt asked for (exactly 2000, 5000, 10000 ms with jitter 0) and
// that each released wait makes one real connection attempt; the unit tests check the same schedule
// against vi.useFakeTimers with the default timers. (ManualTimers: test/helpers/manual-timers.ts.)

/** Counts the sockets a manager opens. */
function countingWebSocket(): { WebSocket: typeof WebSocket; readonly created: number } {
  let created = 0;
  class Counting extends ConformingWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      created++;
    }
  }
  return {
    WebSocket: Counting as typeof WebSocket,
    get created() {
      return created;
    },
  };
}

/** Resolves with the first value of `event` (or the current state) that matches, or rejects after `timeoutMs`. */
function waitFor<K extends keyof StreamManagerEventMap>(
  manager: StreamManager,
  event: K,
  matches: (value: StreamManagerEventMap[K]) => boolean,
  timeoutMs = 5000,
): Promise<StreamManagerEventMap[K]> {
  return new Promise((resolve, reject) => {
    if (event === 'state' && matches(manager.status as StreamManagerEventMap[K])) {
      resolve(manager.status as StreamManagerEventMap[K]);
      return;
    }
    const seen: unknown[] = [];
    const off = manager.on(event, (value) => {
      seen.push(value);
      if (!matches(value)) return;
      off();
      clearTimeout(timer);
      resolve(value);
    });
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${event}; saw ${JSON.stringify(seen).slice(0, 500)}`));
    }, timeoutMs);
  });
}

const state = (manager: StreamManager, match: Partial<StreamStatus>): Promise<StreamStatus> =>
  waitFor(manager, 'state', (s) => Object.entries(match).every(([k, v]) => s[k as keyof StreamStatus] === v));

/** Publishes `envelope` and resolves once the server has taken it in (and so holds it in its snapshot). */
async function publish(redis: TestRedis, channel: string, stream: SystemStream, envelope: Envelope): Promise<void> {
  const json = JSON.stringify(envelope);
  const received = firstValueFrom(stream.messages$.pipe(filter((e) => JSON.stringify(e) === json)));
  await redis.publisher().publish(channel, json);
  await received;
}

const disposers: Array<() => unknown> = [];
const defer = (dispose: () => unknown): void => void disposers.push(dispose);
afterEach(async () => {
  for (const dispose of disposers.splice(0).reverse()) await dispose();
});

async function setup(extra: Partial<StreamManagerOptions> = {}, serverOptions: Partial<SystemStreamOptions> = {}) {
  const redis = await startRedis();
  defer(() => redis.stop());
  const channel = redis.channel();
  const options: SystemStreamOptions = { redis: redis.url, channel, apiKeys: ['k'], ...serverOptions };
  const server = await startServer(options);
  defer(() => server.close());
  await server.stream.ready;
  const timers = new ManualTimers();
  const sockets = countingWebSocket();
  // Idle detection and the handshake timeout off here: these tests release the injected timers one by one
  // (both have their own tests).
  const manager = new StreamManager({
    url: server.wsUrl(),
    apiKey: 'k',
    WebSocket: sockets.WebSocket,
    jitter: 0,
    timers,
    idleTimeoutMs: 0,
    connectTimeoutMs: 0,
    ...extra,
  });
  defer(async () => {
    await manager.close();
    expect(timers.pending).toBe(0);
  });
  return { redis, channel, options, server, timers, sockets, manager };
}

describe('StreamManager against the real server', () => {
  it('retries at 2, 5 and 10 s while the server is down, then resumes with a fresh snapshot on the same port', async () => {
    const { redis, channel, options, server, timers, sockets, manager } = await setup();
    await publish(redis, channel, server.stream, metric('cpu', 11));

    const firstSnapshot = waitFor(manager, 'snapshot', () => true);
    manager.connect();
    await state(manager, { state: 'open' });
    expect(await firstSnapshot).toEqual([expect.objectContaining({ data: expect.objectContaining({ metric_type: 'cpu', value: 11 }) })]);
    const live = waitFor(manager, 'system_metric', (m) => m.data.metric_type === 'memory');
    await publish(redis, channel, server.stream, metric('memory', 40));
    await live;
    expect([...manager.latest().keys()]).toEqual(['system_metric:cpu:host', 'system_metric:memory:host']);

    // Stop the server: its clients are closed with 1001, and the port refuses connections.
    const dropped = state(manager, { state: 'reconnecting', attempt: 1 });
    const stoppingAt = Date.now();
    await server.close();
    const stoppedAt = Date.now();
    const first = await dropped;
    expect(first).toMatchObject({ code: 1001, reason: 'closed with 1001: server shutting down' });
    expect(first.nextAttemptAt).toBeGreaterThanOrEqual(stoppingAt + 2000);
    expect(first.nextAttemptAt).toBeLessThanOrEqual(stoppedAt + 2000);
    expect(manager.latest().size).toBe(2); // the last values stay while reconnecting

    for (const attempt of [2, 3]) {
      const failed = state(manager, { state: 'reconnecting', attempt });
      timers.release();
      expect(manager.status).toEqual({ state: 'connecting', attempt: attempt - 1 });
      const status = await failed;
      expect(status).toMatchObject({ code: 1006, reason: expect.stringContaining('ECONNREFUSED') });
    }
    expect(timers.waits).toEqual([2000, 5000, 10000]);
    expect(sockets.created).toBe(3);

    // Start a new server on the same port. It has an empty snapshot until something is published.
    const server2 = http.createServer();
    const stream2 = attachSystemStream(server2, options);
    defer(() => new Promise<void>((resolve) => server2.close(() => resolve())));
    defer(() => stream2.close());
    server2.listen(server.port, '127.0.0.1');
    await once(server2, 'listening');
    await stream2.ready;
    await publish(redis, channel, stream2, metric('disk', 70));

    const refilled = waitFor(manager, 'snapshot', () => true);
    timers.release(); // the third attempt, after its 10 s wait
    await state(manager, { state: 'open' });
    await refilled;
    expect(sockets.created).toBe(4);
    // The new server's snapshot replaced the old values: only what it knows is left.
    expect([...manager.latest().keys()]).toEqual(['system_metric:disk:host']);

    const resumed = waitFor(manager, 'system_metric', (m) => m.data.value === 99);
    await publish(redis, channel, stream2, metric('cpu', 99));
    await resumed;
    expect(manager.latest().get('system_metric:cpu:host')).toMatchObject({ data: { value: 99 } });
    expect(timers.pending).toBe(0);
  });

  it('stops on a refused key (the HTTP status ws can see) instead of retrying', async () => {
    const { manager, timers, server } = await setup({ apiKey: 'wrong' });
    manager.connect();
    const status = await state(manager, { state: 'closed' });
    expect(status).toEqual({ state: 'closed', code: 4401, reason: 'closed with 4401: Unexpected server response: 401' });
    expect(timers.waits).toEqual([]);
    expect(server.stream.stats().clients).toBe(0);
  });

  it('retries a server that is full (503)', async () => {
    const { manager, timers, server } = await setup({}, { maxClients: 1 });
    const occupant = await connectOpen(server.wsUrl('api_key=k'));
    defer(() => occupant.close());
    manager.connect();
    const status = await state(manager, { state: 'reconnecting', attempt: 1 });
    expect(status.reason).toBe('closed with 1006: Unexpected server response: 503');
    expect(timers.waits).toEqual([2000]);
  });

  it('authenticates with the key subprotocol: the key is not in the URL the server sees', async () => {
    const urls: string[] = [];
    const { manager, server } = await setup();
    server.server.prependListener(
      'upgrade',
      (req: http.IncomingMessage) => void urls.push(`${req.url} ${req.headers['sec-websocket-protocol']}`),
    );
    manager.connect();
    await state(manager, { state: 'open' });
    expect(urls).toHaveLength(1);
    expect(urls[0]).not.toMatch(/api_key/);
    expect(urls[0]).toMatch(/system-stream\.v1, ?system-stream\.key\.aw$/); // "k" in base64url
  });

  it('goes degraded while Redis is down and back to open on the recovery packet, on the same socket', async () => {
    const { redis, manager, sockets } = await setup();
    manager.connect();
    await state(manager, { state: 'open' });
    const degraded = state(manager, { state: 'degraded' });
    await redis.kill();
    expect(await degraded).toEqual({ state: 'degraded', reason: 'redis_unavailable' });
    const recovered = state(manager, { state: 'open' });
    await redis.start();
    await recovered;
    expect(sockets.created).toBe(1);
  });

  it('receives only the types it asked for', async () => {
    const { redis, channel, server, manager } = await setup({ types: ['alert'] });
    manager.connect();
    await state(manager, { state: 'open' });
    const metrics: unknown[] = [];
    manager.on('system_metric', (m) => metrics.push(m));
    const gotAlert = waitFor(manager, 'alert', () => true);
    await publish(redis, channel, server.stream, metric('cpu', 50));
    await publish(redis, channel, server.stream, alert('critical'));
    await gotAlert;
    expect(metrics).toEqual([]);
    expect([...manager.latest().keys()]).toEqual(['alert:cpu:host']);
  });

  describe('idle detection against the real server', () => {
    async function serve(
      heartbeatIntervalMs: number,
    ): Promise<{ manager: StreamManager; server: Awaited<ReturnType<typeof startServer>> }> {
      const redis = await startRedis();
      defer(() => redis.stop());
      const server = await startServer({ redis: redis.url, channel: redis.channel(), apiKeys: ['k'], heartbeatIntervalMs });
      defer(() => server.close());
      await server.stream.ready;
      // Real timers: the waits here are a few hundred milliseconds.
      const manager = new StreamManager({
        url: server.wsUrl(),
        apiKey: 'k',
        WebSocket: ConformingWebSocket,
        jitter: 0,
        idleTimeoutMs: 400,
      });
      defer(() => manager.close());
      manager.connect();
      await state(manager, { state: 'open' });
      return { manager, server };
    }

    it("stays open on a quiet stream while the server's heartbeat packets arrive", async () => {
      const { manager } = await serve(100);
      const states: string[] = [];
      manager.on('state', (s) => states.push(s.state));
      await new Promise((r) => setTimeout(r, 1500));
      expect(states).toEqual([]);
      expect(manager.state).toBe('open');
    });

    it('gives up a connection that stays silent past idleTimeoutMs and reconnects', async () => {
      const { manager } = await serve(60_000);
      const dropped = await state(manager, { state: 'reconnecting' });
      expect(dropped.reason).toMatch(/no data for 0 s|no data for 1 s/);
    });
  });
});
