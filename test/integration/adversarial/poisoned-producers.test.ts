// Producers cannot poison shared state: a stamp, a time or a history key that one producer puts on the
// channel can affect only its own messages. Real redis-server, real ws clients, the library's publisher.
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { SystemPublisher } from '../../../src/publisher/publisher.js';
import type { Envelope, ServerPacket, SnapshotEndPacket, SystemMetricMessage } from '../../../src/protocol/wire.js';
import { historyStreamKey } from '../../../src/redis/history-script.js';
import { recordingLogger } from '../../helpers/logger.js';
import { snapshotEnvelopes } from '../../helpers/ws-client.js';
import { useHistoryFixtures } from '../../helpers/history-fixtures.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const metric = (value: number, timeMs = Date.now(), source = 'host'): SystemMetricMessage => ({
  type: 'system_metric',
  data: { time: iso(timeMs), metric_type: `k${value % 5}`, value, source },
});
const values = (packets: readonly unknown[]): number[] =>
  (packets as Envelope[]).filter((p): p is SystemMetricMessage => p.type === 'system_metric').map((p) => p.data.value);
const isValue = (value: number) => (p: ServerPacket) => p.type === 'system_metric' && p.data.value === value;
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const { redisServer, server, publisher, client } = useHistoryFixtures();

/** Publishes metrics `from..to` with the library's publisher, killing the server's subscriber at `killAt`. */
async function publishValues(p: SystemPublisher, admin: Redis, from: number, to: number, killAt?: number): Promise<number[]> {
  const receivers: number[] = [];
  for (let i = from; i <= to; i++) {
    if (i === killAt) await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    receivers.push(await p.publish(metric(i)));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return receivers;
}

describe('poisoned producers', () => {
  describe('forged stamps', () => {
    it('a PUBLISH stamped 9999999999999999-0 hides none of the publisher’s later messages, through a subscriber kill; it is ignored, counted and logged once', async () => {
      const redis = await redisServer();
      const channel = redis.channel();
      const logger = recordingLogger();
      const s = await server(redis, channel, { logger });
      const c = await client(s);
      const p = publisher(redis, channel);
      const admin = redis.publisher();
      await publishValues(p, admin, 1, 10);
      await admin.publish(channel, `9999999999999999-0 ${JSON.stringify(metric(1000))}`);
      await admin.publish(channel, `9999999999999999-1 ${JSON.stringify(metric(1001))}`);
      const receivers = await publishValues(p, admin, 11, 150, 80);
      await c.waitFor(isValue(150), 10_000);
      expect(receivers.some((n) => n === 0)).toBe(true); // some were published while the subscriber was away
      // The forged message passed as an unstamped one; nothing of the publisher's went missing or came twice.
      expect(values(c.packets)).toEqual([...range(1, 10), 1000, 1001, ...range(11, 150)]);
      expect(logger.count('warn', 'ignored implausible stamps')).toBe(1);
      const warning = logger.lines.find((l) => l.msg === 'ignored implausible stamps');
      expect(warning?.obj).toMatchObject({ stamp: '9999999999999999-0', ignored: 1 });
      expect(s.stream.stats().ignoredStamps).toBe(2);
    });

    it('a plausible forged stamp (a minute ahead) neither hides later messages nor makes the catch-up skip any', async () => {
      const redis = await redisServer();
      const channel = redis.channel();
      const s = await server(redis, channel);
      const c = await client(s);
      const p = publisher(redis, channel);
      const admin = redis.publisher();
      await publishValues(p, admin, 1, 10);
      await admin.publish(channel, `${Date.now() + 60_000}-0 ${JSON.stringify(metric(1000))}`);
      // The subscriber is killed right after the forged stamp: the catch-up must start from the stream.
      const receivers = await publishValues(p, admin, 11, 100, 11);
      await c.waitFor(isValue(100), 10_000);
      expect(receivers[0]).toBe(0);
      expect(values(c.packets)).toEqual([...range(1, 10), 1000, ...range(11, 100)]);
    });

    it('a stream whose IDs went backwards (a Redis clock that was ahead, then the stream written anew) keeps delivering', async () => {
      const redis = await redisServer();
      const channel = redis.channel();
      const s = await server(redis, channel);
      const c = await client(s);
      const p = publisher(redis, channel);
      const admin = redis.publisher();
      const key = historyStreamKey(channel);
      await publishValues(p, admin, 1, 5);
      // What a Redis whose clock is 4 minutes ahead writes: an entry (and its stamp) dated then.
      const aheadId = `${Date.now() + 240_000}-0`;
      await admin.xadd(key, aheadId, 'm', JSON.stringify(metric(6)));
      await admin.publish(channel, `${aheadId} ${JSON.stringify(metric(6))}`);
      await c.waitFor(isValue(6));
      // The clock is corrected and the stream is written anew (deleted, or lost with a restart).
      await admin.del(key);
      await publishValues(p, admin, 7, 60, 30);
      await c.waitFor(isValue(60), 10_000);
      expect(values(c.packets)).toEqual(range(1, 60));
    });
  });

  describe('times far in the future', () => {
    it('refuses an envelope dated an hour ahead (counted as invalid), so the key keeps taking correct values', async () => {
      const redis = await redisServer();
      const channel = redis.channel();
      const s = await server(redis, channel, { historyStream: false });
      const c = await client(s);
      const admin = redis.publisher();
      await admin.publish(channel, JSON.stringify(metric(1, Date.now() + 3_600_000)));
      await admin.publish(channel, JSON.stringify([metric(2, Date.now() + 3_600_000), metric(3)]));
      await admin.publish(channel, JSON.stringify(metric(4, Date.now() + 60_000))); // within the 5-minute skew
      await c.waitFor(isValue(4));
      expect(values(c.packets)).toEqual([3, 4]);
      expect(s.stream.stats()).toMatchObject({ invalid: 2, valid: 2 });
      expect(values(s.stream.snapshot())).toEqual([3, 4]);
      // A client resuming from now sees the later value: nothing from the future sorts after it.
      const late = await client(s, `&since=${Date.now() - 10_000}`);
      expect(values(snapshotEnvelopes(late))).toEqual([3, 4]);
    });

    it('takes maxClockSkewMs, and applies it to values read back from the Redis stream too', async () => {
      const redis = await redisServer();
      const channel = redis.channel();
      const p = publisher(redis, channel);
      await p.publish([metric(1, Date.now() + 20_000), metric(2)]);
      const s = await server(redis, channel, { maxClockSkewMs: 10_000 }); // loads both from the stream
      const c = await client(s, `&since=${Date.now() - 60_000}`);
      expect(values(snapshotEnvelopes(c))).toEqual([2]);
      expect(s.stream.stats().invalid).toBe(1);
    });
  });

  describe('history keys', () => {
    it('two publishers with different history keys on one channel: every message delivered once, none taken for a duplicate', async () => {
      const redis = await redisServer();
      const channel = redis.channel();
      const s = await server(redis, channel);
      const c = await client(s);
      const mine = publisher(redis, channel);
      const theirs = publisher(redis, channel, `${channel}:other-history`);
      for (let i = 1; i <= 400; i++) await (i % 2 === 0 ? mine : theirs).publish(metric(i));
      await c.waitFor(isValue(400), 10_000);
      expect(values(c.packets)).toEqual(range(1, 400));
    });

    it('a stream reading another key than its publisher never says complete after losing messages', async () => {
      const redis = await redisServer();
      const channel = redis.channel();
      const s = await server(redis, channel);
      const live = await client(s);
      const p = publisher(redis, channel, `${channel}:other-history`);
      const startedAt = Date.now();
      const receivers = await publishValues(p, redis.publisher(), 1, 100, 50);
      await live.waitFor(isValue(100), 10_000);
      const lost = receivers.filter((n) => n === 0).length;
      expect(lost).toBeGreaterThan(0);
      expect(values(live.packets)).toHaveLength(100 - lost); // not in the stream this server reads
      const late = await client(s, `&since=${startedAt}`);
      const end = late.packets.find((pkt): pkt is SnapshotEndPacket => pkt.type === 'snapshot_end');
      expect(values(snapshotEnvelopes(late))).toHaveLength(100 - lost);
      expect(end?.data.complete).toBe(false);
    });

    it('(control) with the key it reads, the same kill loses nothing and the backfill is complete', async () => {
      const redis = await redisServer();
      const channel = redis.channel();
      const s = await server(redis, channel);
      const live = await client(s);
      const p = publisher(redis, channel);
      const startedAt = Date.now();
      await publishValues(p, redis.publisher(), 1, 100, 50);
      await live.waitFor(isValue(100), 10_000);
      const late = await client(s, `&since=${startedAt}`);
      expect(values(snapshotEnvelopes(late))).toEqual(range(1, 100));
      expect(late.packets.find((pkt): pkt is SnapshotEndPacket => pkt.type === 'snapshot_end')?.data.complete).toBe(true);
    });
  });
});
