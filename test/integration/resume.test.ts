// StreamManager resuming through real drops: a ws-based manager against real servers and a real
// redis-server. The reconnect wait goes through injected timers that the test releases, so a drop lasts
// exactly as long as the test says; everything else runs for real.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { StreamManager } from '../../src/client/stream-manager.js';
import type { StreamStatus } from '../../src/client/types.js';
import type { SystemStreamOptions } from '../../src/server/options.js';
import { envelopeKey, type Envelope } from '../../src/protocol/wire.js';
import { createSystemPublisher, type SystemPublisher } from '../../src/publisher/publisher.js';
import { ConformingWebSocket } from '../helpers/conformance.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startServer, type TestServer } from '../helpers/server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A ws WebSocket that the test can cut off like a dropped network, and that connects wherever `target()` says. */
function droppableWebSocket(target: (url: string) => string): {
  WebSocket: typeof WebSocket;
  current: () => WebSocket | undefined;
  urls: string[];
} {
  let current: WebSocket | undefined;
  const urls: string[] = [];
  class Droppable extends ConformingWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      const to = target(url);
      super(to, protocols);
      urls.push(to);
      current = this;
    }
  }
  return { WebSocket: Droppable as typeof WebSocket, current: () => current, urls };
}

const disposers: (() => unknown)[] = [];
const defer = (dispose: () => unknown): void => void disposers.push(dispose);
afterEach(async () => {
  for (const dispose of disposers.splice(0).reverse()) await dispose();
});

async function redisServer(): Promise<TestRedis> {
  const redis = await startRedis();
  defer(() => redis.stop());
  return redis;
}

async function server(redis: TestRedis, channel: string, options: Partial<SystemStreamOptions> = {}): Promise<TestServer> {
  const s = await startServer({ redis: redis.url, channel, apiKeys: ['k'], ...options });
  defer(() => s.close());
  await s.stream.ready;
  return s;
}

function waitForState(manager: StreamManager, state: StreamStatus['state'], timeoutMs = 5000): Promise<void> {
  if (manager.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${state} within ${timeoutMs} ms (now ${manager.state})`)), timeoutMs);
    const off = manager.on('state', (s) => {
      if (s.state !== state) return;
      off();
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Everything the manager passes on, as `key=value` labels. */
function record(manager: StreamManager): Envelope[] {
  const seen: Envelope[] = [];
  manager.subscribe((e) => seen.push(e));
  return seen;
}

const label = (e: Envelope): string =>
  `${envelopeKey(e)}=${e.type === 'system_metric' ? e.data.value : e.type === 'alert' ? e.data.level : e.data.status}`;

/** Publishes one round: three metrics (one per key), and every tenth round an alert and a container change. */
async function publishRound(p: SystemPublisher, round: number, published: string[]): Promise<void> {
  for (const metric_type of ['cpu', 'memory', 'disk']) {
    await p.publishMetric({ metric_type, value: round, source: 'host' });
    published.push(`system_metric:${metric_type}:host=${round}`);
  }
  if (round % 10 === 5) {
    const level = round % 20 === 5 ? 'critical' : 'resolved';
    await p.publishAlert({ level, metric_type: 'cpu', source: 'host', value: 95, threshold: 90 });
    published.push(`alert:cpu:host=${level}`);
    const status = round % 20 === 5 ? 'exited' : 'running';
    await p.publishContainerStatus({ container: 'api', status });
    published.push(`container_status:api=${status}`);
  }
}

describe('StreamManager resume', () => {
  it('after a 10 s drop, while values (alerts and container changes too) are published, shows every value once, in order', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const s = await server(redis, channel);
    const p = createSystemPublisher({ redis: redis.url, channel });
    defer(() => p.close());
    const timers = new ManualTimers();
    const sockets = droppableWebSocket((url) => url);
    const manager = new StreamManager({
      url: s.wsUrl(),
      apiKey: 'k',
      WebSocket: sockets.WebSocket,
      timers,
      jitter: 0,
      idleTimeoutMs: 0,
      connectTimeoutMs: 0,
    });
    defer(() => manager.close());
    const seen = record(manager);
    manager.connect();
    await waitForState(manager, 'open');

    const published: string[] = [];
    let round = 0;
    // Before the drop: live, one round every 100 ms (each key well apart from the 50 ms throttle).
    for (; round < 10; round++) {
      await publishRound(p, round, published);
      await sleep(100);
    }
    await sleep(100);
    sockets.current()?.terminate(); // the network drops
    await waitForState(manager, 'reconnecting');
    const droppedAt = Date.now();
    while (Date.now() - droppedAt < 10_000) {
      await publishRound(p, round++, published);
      await sleep(100);
    }
    expect(timers.pending).toBe(1); // it waited the whole time
    timers.releaseAll();
    await waitForState(manager, 'open');
    // After it: live again.
    for (const end = round + 5; round < end; round++) {
      await publishRound(p, round, published);
      await sleep(100);
    }
    const last = published.at(-1) as string;
    for (let i = 0; i < 100 && seen.map(label).at(-1) !== last; i++) await sleep(20);

    expect(new URL(sockets.urls[1] as string).searchParams.get('since')).toMatch(/^\d+$/);
    expect(published.length).toBeGreaterThan(300);
    expect(seen.map(label)).toEqual(published);
    expect(manager.latest().get('system_metric:cpu:host')?.data).toMatchObject({ value: round - 1 });
  }, 40_000);

  it('resumes on another instance with the Redis-backed history, also for values published before that instance started', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const a = await server(redis, channel, { historyStream: true });
    const p = createSystemPublisher({ redis: redis.url, channel, historyStream: true });
    defer(() => p.close());
    let b: TestServer | undefined;
    // The first connection goes to A, every later one to B: a load balancer that moved the client.
    const sockets = droppableWebSocket((url) => (b ? url.replace(`:${a.port}/`, `:${b.port}/`) : url));
    const timers = new ManualTimers();
    const manager = new StreamManager({
      url: a.wsUrl(),
      apiKey: 'k',
      WebSocket: sockets.WebSocket,
      timers,
      jitter: 0,
      idleTimeoutMs: 0,
      connectTimeoutMs: 0,
    });
    defer(() => manager.close());
    const seen = record(manager);
    manager.connect();
    await waitForState(manager, 'open');
    const published: string[] = [];
    let round = 0;
    for (; round < 10; round++) {
      await publishRound(p, round, published);
      await sleep(60);
    }
    await sleep(100);
    sockets.current()?.terminate();
    await waitForState(manager, 'reconnecting');
    for (const end = round + 20; round < end; round++) {
      await publishRound(p, round, published);
      await sleep(60);
    }
    b = await server(redis, channel, { historyStream: true }); // loads what A saw from the stream
    timers.releaseAll();
    await waitForState(manager, 'open');
    for (const end = round + 5; round < end; round++) {
      await publishRound(p, round, published);
      await sleep(60);
    }
    const last = published.at(-1) as string;
    for (let i = 0; i < 100 && seen.map(label).at(-1) !== last; i++) await sleep(20);
    expect(sockets.urls.map((u) => new URL(u).port)).toEqual([String(a.port), String(b.port)]);
    expect(seen.map(label)).toEqual(published);
  });

  it('fills the first connection with the last historyMs, oldest first, and passes the snapshot on once', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const s = await server(redis, channel);
    const p = createSystemPublisher({ redis: redis.url, channel });
    defer(() => p.close());
    const now = Date.now();
    // Backdated samples, published 60 ms apart so that the throttle lets each one through.
    for (let i = 0; i < 10; i++) {
      await p.publishMetric({ metric_type: 'cpu', value: i, source: 'host', time: new Date(now - (10 - i) * 20_000) });
      await sleep(60);
    }
    const manager = new StreamManager({
      url: s.wsUrl(),
      apiKey: 'k',
      WebSocket: ConformingWebSocket as typeof WebSocket,
      historyMs: 150_000,
    });
    defer(() => manager.close());
    const snapshots: (readonly Envelope[])[] = [];
    manager.on('snapshot', (envelopes) => snapshots.push(envelopes));
    const seen = record(manager);
    manager.connect();
    await waitForState(manager, 'open');
    for (let i = 0; i < 100 && snapshots.length === 0; i++) await sleep(10);
    // 150 s back: the samples from 140 s ago on (i = 3..9), the latest (9) once.
    expect(seen.map(label)).toEqual([3, 4, 5, 6, 7, 8, 9].map((v) => `system_metric:cpu:host=${v}`));
    expect(snapshots[0]?.map(label)).toEqual(seen.map(label));
  });
});
