import type { Socket } from 'node:net';
import { firstValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Envelope, SystemMetricMessage } from '../../src/protocol/wire.js';
import { alert, container, metric } from '../helpers/fixtures.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connectOpen } from '../helpers/ws-client.js';

const SPEC_METRIC = {
  type: 'system_metric',
  data: { time: '2026-01-17T04:30:00Z', metric_type: 'cpu', value: 45.2, source: 'host', meta: { unit: 'percent' } },
};
const SPEC_CONTAINER = { type: 'container_status', data: { container: 'tick-archiver', status: 'running', time: '2026-01-17T04:30:00Z' } };

describe('delivery', () => {
  const fx = useStreamFixtures();

  describe('wire format', () => {
    it("delivers the spec's envelopes field for field", async () => {
      const s = await fx.server();
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const pub = fx.redis().publisher();
      await pub.publish(s.channel, JSON.stringify(SPEC_METRIC));
      await pub.publish(s.channel, JSON.stringify(SPEC_CONTAINER));
      expect(await c.waitFor((p) => p.type === 'system_metric')).toEqual(SPEC_METRIC);
      expect(await c.waitFor((p) => p.type === 'container_status')).toEqual(SPEC_CONTAINER);
    });

    it('delivers every member of a batch published as one Redis message', async () => {
      const s = await fx.server();
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const batch = [metric('cpu', 1), metric('memory', 2), container('db', 'running')];
      await fx.redis().publisher().publish(s.channel, JSON.stringify(batch));
      await c.waitFor((p) => p.type === 'container_status');
      expect(c.packets.slice(1)).toEqual(batch);
    });

    it('sends the packets of one burst one per frame, all in one socket write', async () => {
      const s = await fx.server();
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const chunks: number[] = [];
      (c.ws as unknown as { _socket: Socket })._socket.on('data', (chunk: Buffer) => chunks.push(chunk.length));
      const pub = fx.redis().publisher();
      // Three PUBLISHes in one script: Redis writes the three messages to the subscriber in one go, and
      // ioredis parses them in one read, so they reach the pipeline in one event-loop turn.
      const script = "for i = 1, #ARGV do redis.call('PUBLISH', KEYS[1], ARGV[i]) end";
      await pub.eval(script, 1, s.channel, ...['cpu', 'memory', 'disk'].map((m) => JSON.stringify(metric(m))));
      await c.waitFor((p) => p.type === 'system_metric' && p.data.metric_type === 'disk');
      expect(c.frames.map((f) => (JSON.parse(f) as SystemMetricMessage).data.metric_type)).toEqual([undefined, 'cpu', 'memory', 'disk']);
      expect(chunks).toHaveLength(1); // one write of three frames reaches the client as one read on loopback
    });

    it('with writeDelayMs, writes what arrives within the delay to each client in one socket write', async () => {
      const s = await fx.server({ writeDelayMs: 150 });
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const chunks: number[] = [];
      (c.ws as unknown as { _socket: Socket })._socket.on('data', (chunk: Buffer) => chunks.push(chunk.length));
      const pub = fx.redis().publisher();
      for (const m of ['cpu', 'memory', 'disk']) {
        await pub.publish(s.channel, JSON.stringify(metric(m)));
        await new Promise((resolve) => setTimeout(resolve, 20)); // spread out: without the delay, three writes
      }
      await c.waitFor((p) => p.type === 'system_metric' && p.data.metric_type === 'disk');
      expect(c.frames.slice(1).map((f) => (JSON.parse(f) as SystemMetricMessage).data.metric_type)).toEqual(['cpu', 'memory', 'disk']);
      expect(chunks).toHaveLength(1);
    });

    it('sends a batch published to Redis as one envelope per frame', async () => {
      const s = await fx.server();
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      await fx
        .redis()
        .publisher()
        .publish(s.channel, JSON.stringify([metric('cpu', 1), metric('memory', 2)]));
      await c.waitFor((p) => p.type === 'system_metric' && p.data.metric_type === 'memory');
      const frames = c.frames.slice(1).map((f) => JSON.parse(f) as SystemMetricMessage);
      expect(frames.map((f) => [f.type, f.data.metric_type, f.data.value])).toEqual([
        ['system_metric', 'cpu', 1],
        ['system_metric', 'memory', 2],
      ]);
    });
  });

  describe('validation', () => {
    it('drops and counts invalid messages, delivers the valid ones around them, and logs at a bounded rate', async () => {
      const warnings: unknown[] = [];
      const noop = (): void => {};
      const logger = { debug: noop, info: noop, error: noop, warn: (obj: object) => void warnings.push(obj) };
      const s = await fx.server({ logger, maxMessageBytes: 2048 });
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const pub = fx.redis().publisher();
      const invalid = [
        'not json',
        '{"type":"system_metric"',
        JSON.stringify({ type: 'unknown', data: {} }),
        JSON.stringify({ ...SPEC_METRIC, data: { ...SPEC_METRIC.data, value: '45' } }),
        JSON.stringify({ ...SPEC_METRIC, extra: 1 }),
        JSON.stringify(metric('cpu', 1, 'x'.repeat(3000))),
        JSON.stringify([]),
      ];
      for (let i = 0; i < 100; i++) await pub.publish(s.channel, invalid[i % invalid.length]!);
      await pub.publish(s.channel, JSON.stringify(SPEC_METRIC));
      await c.waitFor((p) => p.type === 'system_metric');
      expect(c.packets.map((p) => p.type)).toEqual(['snapshot_end', 'system_metric']);
      expect(s.stream.stats()).toMatchObject({ invalid: 100, valid: 1 });
      expect(warnings.length).toBeLessThanOrEqual(2);
    });

    it('drops only the invalid members of a batch', async () => {
      const s = await fx.server();
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      await fx
        .redis()
        .publisher()
        .publish(s.channel, JSON.stringify([metric('cpu'), { type: 'system_metric', data: {} }, metric('disk')]));
      await c.waitFor((p) => p.type === 'system_metric' && p.data.metric_type === 'disk');
      expect(c.packets.filter((p) => p.type === 'system_metric')).toHaveLength(2);
      expect(s.stream.stats().invalid).toBe(1);
    });
  });

  describe('messages$', () => {
    it('exposes every valid envelope to the host', async () => {
      const s = await fx.server();
      const received = firstValueFrom(s.stream.messages$.pipe(take(2), toArray()));
      const pub = fx.redis().publisher();
      await pub.publish(s.channel, 'garbage');
      await pub.publish(s.channel, JSON.stringify([metric('cpu', 1), metric('cpu', 2)]));
      expect((await received).map((e) => (e as SystemMetricMessage).data.value)).toEqual([1, 2]);
    });
  });

  describe('option: throttleMs', () => {
    it('never lets an older re-announcement overtake a container change: running, running, exited ends in exited', async () => {
      const s = await fx.server({ throttleMs: 50 });
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const pub = fx.redis().publisher();
      for (const status of ['running', 'running', 'exited'] as const) {
        await pub.publish(s.channel, JSON.stringify(container('db', status)));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 150)); // past every window
      const statuses = c.packets.filter((p) => p.type === 'container_status').map((p) => p.data.status);
      expect(statuses.at(-1)).toBe('exited');
      expect(statuses).toEqual(['running', 'exited']);
      expect(s.stream.snapshot().find((e) => e.type === 'container_status')?.data).toMatchObject({ status: 'exited' });
    });

    it('sends the first value of a key at once and the latest value of a busy key at the end of its window', async () => {
      const s = await fx.server({ throttleMs: 300 });
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const pub = fx.redis().publisher();
      const sentAt = performance.now();
      await pub.publish(s.channel, JSON.stringify(metric('cpu', 0)));
      await c.waitFor((p) => p.type === 'system_metric');
      const firstLatency = performance.now() - sentAt;
      for (let v = 1; v <= 20; v++) await pub.publish(s.channel, JSON.stringify(metric('cpu', v)));
      await pub.publish(s.channel, JSON.stringify(metric('memory', 7)));
      // memory is not held back by cpu's window
      await c.waitFor((p) => p.type === 'system_metric' && p.data.metric_type === 'memory');
      expect(c.packets.some((p) => p.type === 'system_metric' && p.data.value === 20)).toBe(false);
      await c.waitFor((p) => p.type === 'system_metric' && p.data.value === 20);
      const cpu = c.packets.filter((p): p is SystemMetricMessage => p.type === 'system_metric' && p.data.metric_type === 'cpu');
      expect(cpu.map((p) => p.data.value)).toEqual([0, 20]);
      expect(firstLatency).toBeLessThan(100);
      expect(s.stream.stats().throttled).toBe(19);
    });

    it('never conflates container status changes or alerts', async () => {
      const s = await fx.server({ throttleMs: 10_000 });
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const sequence: Envelope[] = [
        container('db', 'running'),
        container('db', 'exited'),
        container('db', 'running'),
        alert('critical', 95),
        alert('critical', 96),
        alert('resolved', 80),
      ];
      await fx.redis().publisher().publish(s.channel, JSON.stringify(sequence));
      await c.waitFor((p) => p.type === 'alert' && p.data.level === 'resolved');
      expect(c.packets.slice(1)).toEqual(sequence);
    });
  });

  describe('snapshot', () => {
    it('gives a new client the latest value of every key before live updates', async () => {
      const s = await fx.server();
      const pub = fx.redis().publisher();
      await pub.publish(
        s.channel,
        JSON.stringify([metric('cpu', 1), metric('memory', 2), container('db', 'running'), alert('critical', 95)]),
      );
      await pub.publish(s.channel, JSON.stringify([metric('cpu', 3), container('db', 'exited'), alert('resolved', 80)]));
      await expect.poll(() => s.stream.stats().valid).toBe(7);
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      // One envelope per frame, then the marker with their count, in order of last update.
      const end = c.packets.findIndex((p) => p.type === 'snapshot_end');
      const data = c.packets.slice(0, end);
      expect(c.packets[end]).toEqual({ type: 'snapshot_end', data: { count: 3 } });
      expect(c.frames).toHaveLength(4);
      expect(data).toHaveLength(3);
      expect(data).toContainEqual(
        expect.objectContaining({ type: 'system_metric', data: expect.objectContaining({ metric_type: 'cpu', value: 3 }) }),
      );
      expect(data).toContainEqual(
        expect.objectContaining({ type: 'system_metric', data: expect.objectContaining({ metric_type: 'memory', value: 2 }) }),
      );
      expect(data).toContainEqual(
        expect.objectContaining({ type: 'container_status', data: expect.objectContaining({ status: 'exited' }) }),
      );
      expect(s.stream.snapshot()).toEqual(data);
    });

    it('keeps at most maxSnapshotKeys keys, forgetting the least recently updated', async () => {
      const s = await fx.server({ maxSnapshotKeys: 2 });
      await fx
        .redis()
        .publisher()
        .publish(s.channel, JSON.stringify([metric('a'), metric('b'), metric('c')]));
      await expect.poll(() => s.stream.stats().valid).toBe(3);
      expect(s.stream.snapshot().map((e) => (e as SystemMetricMessage).data.metric_type)).toEqual(['b', 'c']);
    });
  });
});
