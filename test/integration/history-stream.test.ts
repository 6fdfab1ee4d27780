// The Redis-backed history: producers that use the publisher's `historyStream` write each message to the
// channel and to a capped Redis Stream in one script; the stream recovers what its subscriber missed while
// it reconnected, loads its history from there at start, and plain PUBLISH producers keep working.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createSystemPublisher, type SystemPublisher } from '../../src/publisher/publisher.js';
import type { Envelope, SnapshotEndPacket, SystemMetricMessage } from '../../src/protocol/wire.js';
import { historyStreamKey, publishWithHistory } from '../../src/redis/history-script.js';
import { snapshotEnvelopes } from '../helpers/ws-client.js';
import { useHistoryFixtures } from '../helpers/history-fixtures.js';
import { recordingLogger } from '../helpers/logger.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const iso = (ms: number): string => new Date(ms).toISOString();
const metric = (metric_type: string, value: number, timeMs = Date.now()): SystemMetricMessage => ({
  type: 'system_metric',
  data: { time: iso(timeMs), metric_type, value, source: 'host' },
});
const metricValues = (packets: readonly unknown[]): number[] =>
  (packets as Envelope[]).filter((p): p is SystemMetricMessage => p.type === 'system_metric').map((p) => p.data.value);

const { defer, redisServer, server, publisher, client } = useHistoryFixtures();

/** Publishes `count` metrics (value 1..count, over `keys` keys) every `everyMs`, calling `during(i)` after each. */
async function publishSeries(
  p: SystemPublisher,
  count: number,
  everyMs: number,
  during: (i: number) => unknown = () => {},
): Promise<number[]> {
  const receivers: number[] = [];
  for (let i = 1; i <= count; i++) {
    receivers.push(await p.publishMetric({ metric_type: `k${i % 5}`, value: i, source: 'host' }));
    await during(i);
    await sleep(everyMs);
  }
  return receivers;
}

describe('Redis-backed history (historyStream)', () => {
  it('delivers every message once, in order, through CLIENT KILL TYPE pubsub while the publisher keeps publishing', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const s = await server(redis, channel);
    const c = await client(s);
    const p = publisher(redis, channel);
    const admin = redis.publisher();

    const receivers = await publishSeries(p, 400, 3, async (i) => {
      if (i % 100 === 50) await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    });
    await c.waitFor((pkt) => pkt.type === 'system_metric' && pkt.data.value === 400, 10_000);
    // Some publishes found nobody subscribed (the kill window), yet the client has every value, once, in order.
    expect(receivers.filter((n) => n === 0).length).toBeGreaterThan(0);
    expect(metricValues(c.packets)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    const stats = s.stream.stats();
    expect(stats.recovered).toBeGreaterThanOrEqual(receivers.filter((n) => n === 0).length);
    expect(stats.received + stats.recovered).toBe(400);
    // The clients were told about each outage and its end.
    expect(c.packets.filter((pkt) => pkt.type === 'error').length).toBe(4);
  });

  it('(control) without historyStream the same kills lose messages', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const s = await server(redis, channel, { historyStream: false });
    const c = await client(s);
    const p = publisher(redis, channel, false);
    const admin = redis.publisher();
    const receivers = await publishSeries(p, 200, 3, async (i) => {
      if (i % 100 === 50) await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    });
    await c.waitFor((pkt) => pkt.type === 'system_metric' && pkt.data.value === 200, 10_000);
    const lost = receivers.filter((n) => n === 0).length;
    expect(lost).toBeGreaterThan(0);
    expect(metricValues(c.packets)).toHaveLength(200 - lost);
  });

  it('recovers what was published between a Redis restart and the resubscribe, and keeps the stream across it with AOF', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sst-aof-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const redis = await redisServer(['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir]);
    const channel = redis.channel();
    const s = await server(redis, channel);
    const c = await client(s);
    const p = publisher(redis, channel);
    await publishSeries(p, 20, 5);
    await sleep(1100); // everysec: the AOF has the first 20 on disk
    await redis.kill('SIGKILL');
    await redis.start();
    // Publish at once on a new connection, in the window before the stream's subscriber is back (it
    // retries 100, 200, 400, 500 ms after the kill): those messages can reach it only from the stream.
    const fast = redis.publisher();
    const target = { channel, streamKey: historyStreamKey(channel), maxLen: 10_000 };
    const receivers: number[] = [];
    for (let i = 21; i <= 60; i++) {
      receivers.push(await publishWithHistory(fast, target, JSON.stringify(metric(`k${i % 5}`, i))));
      await sleep(5);
    }
    expect(receivers.filter((n) => n === 0).length).toBeGreaterThan(0);
    const published = Array.from({ length: 60 }, (_, i) => i + 1);
    await c.waitFor((pkt) => pkt.type === 'system_metric' && pkt.data.value === 60, 10_000);
    expect(metricValues(c.packets)).toEqual(published);
    expect(s.stream.stats().recovered).toBeGreaterThanOrEqual(receivers.filter((n) => n === 0).length);

    // The stream survived the SIGKILL: an instance started now loads the first 20 from it.
    const fresh = await server(redis, channel);
    const late = await client(fresh, `&since=${Date.now() - 60_000}`);
    expect(metricValues(snapshotEnvelopes(late))).toEqual(published);
  });

  it('a new instance loads the recent history from the stream: the backfill does not depend on the instance', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const a = await server(redis, channel);
    const p = publisher(redis, channel);
    const startedAt = Date.now();
    await publishSeries(p, 30, 2);
    await p.publishAlert({ level: 'critical', metric_type: 'cpu', source: 'host', value: 97, threshold: 90 });
    await p.publishAlert({ level: 'resolved', metric_type: 'cpu', source: 'host', value: 70, threshold: 90 });
    await p.publishContainerStatus({ container: 'api', status: 'exited' });
    await p.publishContainerStatus({ container: 'api', status: 'running' });
    const b = await server(redis, channel); // started after all of it

    const since = `&since=${startedAt - 1000}`;
    const fromA = await client(a, since);
    const fromB = await client(b, since);
    expect(snapshotEnvelopes(fromB)).toEqual(snapshotEnvelopes(fromA));
    expect(metricValues(snapshotEnvelopes(fromB))).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // Alerts and container changes are events: every one is kept, not only the latest.
    expect(
      snapshotEnvelopes(fromB).flatMap((e) => (e.type === 'alert' ? [e.data.level] : e.type === 'container_status' ? [e.data.status] : [])),
    ).toEqual(['critical', 'resolved', 'exited', 'running']);
    const end = fromB.packets.find((pkt): pkt is SnapshotEndPacket => pkt.type === 'snapshot_end');
    expect(end?.data.complete).toBe(true); // B loaded the last historyMs from the stream
    expect(b.stream.stats().recovered).toBe(0); // the load at start is not a recovery
  });

  it('keeps plain PUBLISH producers working (in-memory history only), and a server without historyStream strips stamps', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const withHistory = await server(redis, channel);
    const without = await server(redis, channel, { historyStream: false });
    const c1 = await client(withHistory);
    const c2 = await client(without);
    const p = publisher(redis, channel);
    const plain = redis.publisher();
    await plain.publish(channel, JSON.stringify(metric('cpu', 1)));
    await p.publishMetric({ metric_type: 'cpu', value: 2, source: 'host' });
    await plain.publish(channel, JSON.stringify(metric('cpu', 3)));
    for (const c of [c1, c2]) {
      await c.waitFor((pkt) => pkt.type === 'system_metric' && pkt.data.value === 3);
      expect(metricValues(c.packets)).toEqual([1, 2, 3]);
    }
    // Only the publisher's message is in the Redis stream.
    const entries = (await redis.publisher().xrange(historyStreamKey(channel), '-', '+')) as [string, string[]][];
    expect(entries.map(([, fields]) => (JSON.parse(fields[1] as string) as SystemMetricMessage).data.value)).toEqual([2]);
    expect(withHistory.stream.stats().invalid + without.stream.stats().invalid).toBe(0);
  });

  it('publishes nothing when the XADD fails: the script is atomic', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const s = await server(redis, channel, { historyStream: false });
    const c = await client(s);
    await redis.publisher().set(historyStreamKey(channel), 'not a stream');
    const p = publisher(redis, channel);
    await expect(p.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' })).rejects.toMatchObject({
      code: 'SST_ERR_REDIS_UNAVAILABLE',
    });
    await redis.publisher().publish(channel, JSON.stringify(metric('cpu', 2)));
    await c.waitFor((pkt) => pkt.type === 'system_metric' && pkt.data.value === 2);
    expect(metricValues(c.packets)).toEqual([2]);
  });

  it('caps the stream near historyMaxLen entries', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const p = createSystemPublisher({ redis: redis.url, channel, historyStream: true, historyMaxLen: 100 });
    defer(() => p.close());
    for (let i = 0; i < 1000; i++) await p.publishMetric({ metric_type: 'cpu', value: i, source: 'host' });
    const length = await redis.publisher().xlen(historyStreamKey(channel));
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(300); // MAXLEN ~ trims whole nodes of the stream's radix tree
  });

  it('reports a host that stopped publishing before the instance started as stale: staleness is primed from the loaded history', async () => {
    const redis = await redisServer();
    const channel = redis.channel();
    const p = publisher(redis, channel);
    for (let i = 1; i <= 8; i++) {
      await p.publishMetric({ metric_type: 'cpu', value: i, source: 'dead-host' });
      await sleep(100); // an interval of 100 ms: stale after 3 × 100 ms, or the 200 ms floor below
    }
    const lastAt = Date.now();
    await sleep(500); // the host is dead before the instance starts
    const s = await server(redis, channel, { staleFloorMs: 200 });
    const c = await client(s);
    const status = await c.waitFor(
      (pkt) => pkt.type === 'source_status' && pkt.data.source === 'dead-host' && pkt.data.status === 'stale',
      3000,
    );
    // When it was last heard from, by its own metric's time: before the instance started, not at the load.
    expect(status.type === 'source_status' && Date.parse(status.data.last_seen)).toBeLessThanOrEqual(lastAt);
  });

  it('works with Redis 6.0, which has no exclusive XRANGE start: catch-ups read from the last entry, inclusive, and skip it', async () => {
    // A client that refuses what Redis 6.0 refuses (an XRANGE start `(id`, added in 6.2), in front of the real server.
    const refused: string[] = [];
    const redis60 = (options: RedisOptions): Redis => {
      const client = new Redis(options);
      client.on('error', () => {});
      const xrange = client.xrange.bind(client) as (...args: unknown[]) => Promise<unknown>;
      return Object.assign(client, {
        duplicate: (override?: RedisOptions) => redis60({ ...client.options, ...override } as RedisOptions),
        xrange: (...args: unknown[]) => {
          const start = String(args[1]);
          if (!start.startsWith('(')) return xrange(...args);
          refused.push(start);
          return Promise.reject(new Error('ERR Invalid stream ID specified as stream command argument'));
        },
      }) as Redis;
    };
    const redis = await redisServer();
    const channel = redis.channel();
    const host = redis60({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    defer(() => host.disconnect());
    const logger = recordingLogger();
    const s = await server(redis, channel, { redis: host, logger });
    const c = await client(s);
    const p = publisher(redis, channel);
    const admin = redis.publisher();
    const receivers = await publishSeries(p, 200, 3, async (i) => {
      if (i % 100 === 50) await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    });
    await c.waitFor((pkt) => pkt.type === 'system_metric' && pkt.data.value === 200, 10_000);
    expect(receivers.filter((n) => n === 0).length).toBeGreaterThan(0);
    expect(metricValues(c.packets)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(refused).toEqual([]);
    expect(logger.count('warn', 'history stream read failed')).toBe(0);
  });
});
