import http from 'node:http';
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { attachSystemStream } from '../../src/server/attach.js';
import type { SystemStream } from '../../src/server/stream.js';
import { envelopeValidator } from '../../src/shared/envelope-validator.js';
import type { Envelope } from '../../src/protocol/wire.js';
import { createSystemPublisher, type MetricInput, type SystemPublisher } from '../../src/publisher/publisher.js';
import { alert, container, metric } from '../helpers/fixtures.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';
import { rejection } from '../helpers/rejection.js';
import { recordingLogger } from '../helpers/logger.js';

let redis: TestRedis;
const cleanup: (() => unknown)[] = [];

beforeEach(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  await redis.stop();
});

function publisherFor(options: Parameters<typeof createSystemPublisher>[0]): SystemPublisher {
  const publisher = createSystemPublisher(options);
  cleanup.push(() => publisher.close());
  return publisher;
}

/** A subscriber on `channel` that queues every message until a test takes it. */
async function subscribe(channel: string): Promise<{ next(): Promise<unknown> }> {
  const sub = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  sub.on('error', () => {});
  cleanup.push(() => sub.disconnect());
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  sub.on('message', (_channel: string, message: string) => {
    queue.push(message);
    wake?.();
  });
  await sub.subscribe(channel);
  return {
    async next() {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return JSON.parse(queue.shift()!) as unknown;
    },
  };
}

// Timing bounds below allow 1 s of slack over publishTimeoutMs for a loaded 2-core machine: they prove
// that a call ends on its own (an unbounded wait would run into the 30 s test timeout), not its precision,
// which test/unit/publisher.test.ts checks exactly with fake timers.
describe('createSystemPublisher against a real Redis', () => {
  it('delivers each kind of envelope to a subscriber field for field', async () => {
    const channel = redis.channel();
    const sub = await subscribe(channel);
    const publisher = publisherFor({ redis: redis.url, channel });
    await publisher.ready;

    await expect(
      publisher.publishMetric({ metric_type: 'cpu', value: 45.2, source: 'host', meta: { unit: 'percent' }, time: '2026-01-17T04:30:00Z' }),
    ).resolves.toBe(1);
    expect(await sub.next()).toEqual({
      type: 'system_metric',
      data: { time: '2026-01-17T04:30:00Z', metric_type: 'cpu', value: 45.2, source: 'host', meta: { unit: 'percent' } },
    });

    await publisher.publishContainerStatus({ container: 'tick-archiver', status: 'running', time: '2026-01-17T04:30:00Z' });
    expect(await sub.next()).toEqual({
      type: 'container_status',
      data: { container: 'tick-archiver', status: 'running', time: '2026-01-17T04:30:00Z' },
    });

    const before = Date.now();
    await publisher.publishAlert({
      level: 'warning',
      metric_type: 'memory',
      source: 'host',
      value: 91,
      threshold: 90,
      message: 'memory high',
    });
    const sent = (await sub.next()) as Envelope;
    expect(sent).toMatchObject({
      type: 'alert',
      data: { level: 'warning', metric_type: 'memory', source: 'host', value: 91, threshold: 90, message: 'memory high' },
    });
    expect(Date.parse(sent.data.time)).toBeGreaterThanOrEqual(before - 1);
    expect(sent.data.time).toMatch(/Z$/);
  });

  it('sends a batch as one Redis message', async () => {
    const channel = redis.channel();
    const sub = await subscribe(channel);
    const publisher = publisherFor({ redis: redis.url, channel });
    const batch = [metric('cpu', 12.5), metric('memory', 40), container('db', 'exited'), alert('warning', 91)];
    const single = metric('cpu', 13);
    await publisher.publish(batch);
    await publisher.publish(single);
    expect(await sub.next()).toEqual(batch);
    expect(await sub.next()).toEqual(single);
  });

  it('waits for its own connection before the first publish instead of failing', async () => {
    const channel = redis.channel();
    const sub = await subscribe(channel);
    const publisher = publisherFor({ redis: redis.url, channel });
    // No `await publisher.ready`: the call itself waits (bounded) for the connection.
    await expect(publisher.publish(metric('cpu', 1))).resolves.toBe(1);
    expect(await sub.next()).toMatchObject({ type: 'system_metric' });
  });

  it('publishes through a client it was given and never closes it', async () => {
    const channel = redis.channel();
    const sub = await subscribe(channel);
    const client = new Redis(redis.url);
    client.on('error', () => {});
    cleanup.push(() => client.disconnect());
    const publisher = createSystemPublisher({ redis: client, channel });
    await publisher.publish(metric('cpu', 7));
    expect(await sub.next()).toMatchObject({ data: { value: 7 } });
    await publisher.close();
    await publisher.close();
    expect(client.status).toBe('ready');
    await expect(client.ping()).resolves.toBe('PONG');
    expect(client.listenerCount('ready') + client.listenerCount('end')).toBe(0);
  });

  describe('batches larger than the server accepts', () => {
    it.each([false, true])(
      'publish() of 1,000 envelopes (about 150 KB) reaches a default server whole, in order (historyStream: %s)',
      async (historyStream) => {
        const channel = redis.channel();
        const stream = attachSystemStream(http.createServer(), { redis: redis.url, channel, auth: false, throttleMs: 0, historyStream });
        cleanup.push(() => stream.close());
        await stream.ready;
        const seen: number[] = [];
        stream.messages$.subscribe((e) => void (e.type === 'system_metric' && seen.push(e.data.value)));
        const publisher = publisherFor({ redis: redis.url, channel, historyStream });
        const batch = Array.from({ length: 1000 }, (_, i) =>
          metric(`metric_${i % 50}`, i, `host-${Math.floor(i / 50)}.example.internal`, new Date().toISOString()),
        );
        expect(Buffer.byteLength(JSON.stringify(batch))).toBeGreaterThan(140_000);
        await expect(publisher.publish(batch)).resolves.toBe(1);
        await expect.poll(() => seen.length).toBe(1000);
        expect(seen).toEqual(batch.map((e) => (e.type === 'system_metric' ? e.data.value : -1)));
        expect(stream.stats().invalid).toBe(0);
      },
    );
  });

  describe("a host's client in any state", () => {
    /** A host-owned client, disconnected after the test. */
    function hostClient(options: RedisOptions = {}): Redis {
      const client = new Redis({ port: redis.port, host: '127.0.0.1', ...options });
      client.on('error', () => {});
      cleanup.push(() => client.disconnect());
      return client;
    }

    it('connects a client created with lazyConnect: true and publishes through it', async () => {
      const channel = redis.channel();
      const sub = await subscribe(channel);
      const client = hostClient({ lazyConnect: true });
      expect(client.status).toBe('wait');
      const publisher = publisherFor({ redis: client, channel, publishTimeoutMs: 2000 });
      await publisher.ready;
      await expect(publisher.publish(metric('cpu', 1))).resolves.toBe(1);
      expect(await sub.next()).toMatchObject({ data: { value: 1 } });
    });

    it('publishes through a lazyConnect client without awaiting ready first', async () => {
      const channel = redis.channel();
      const sub = await subscribe(channel);
      const publisher = publisherFor({ redis: hostClient({ lazyConnect: true }), channel, publishTimeoutMs: 2000 });
      await expect(publisher.publish(metric('cpu', 2))).resolves.toBe(1);
      expect(await sub.next()).toMatchObject({ data: { value: 2 } });
    });

    it('waits for a client that is still connecting', async () => {
      const channel = redis.channel();
      const sub = await subscribe(channel);
      const client = hostClient();
      expect(client.status).toBe('connecting');
      const publisher = publisherFor({ redis: client, channel });
      await expect(publisher.publish(metric('cpu', 3))).resolves.toBe(1);
      expect(await sub.next()).toMatchObject({ data: { value: 3 } });
    });

    it('publishes through a client that is already connected', async () => {
      const channel = redis.channel();
      const sub = await subscribe(channel);
      const client = hostClient();
      await client.ping();
      const publisher = publisherFor({ redis: client, channel });
      await publisher.ready;
      await expect(publisher.publish(metric('cpu', 4))).resolves.toBe(1);
      expect(await sub.next()).toMatchObject({ data: { value: 4 } });
    });

    it('waits for a client that is reconnecting, and publishes once Redis is back', async () => {
      const channel = redis.channel();
      const client = hostClient({ retryStrategy: () => 50 });
      await client.ping();
      await redis.kill();
      await expect.poll(() => client.status, { timeout: 2000 }).toBe('reconnecting');
      const publisher = publisherFor({ redis: client, channel, publishTimeoutMs: 10_000 });
      const sent = publisher.publish(metric('cpu', 5));
      await redis.start();
      await expect(sent).resolves.toBeTypeOf('number');
      const sub = await subscribe(channel);
      await expect(publisher.publish(metric('cpu', 6))).resolves.toBe(1);
      expect(await sub.next()).toMatchObject({ data: { value: 6 } });
      expect(client.listenerCount('ready') + client.listenerCount('end')).toBe(0);
    });
  });

  it('closes the connection it opened; close() is idempotent and later calls reject', async () => {
    const publisher = createSystemPublisher({ redis: redis.url, channel: redis.channel() });
    await publisher.ready;
    const first = publisher.close();
    expect(publisher.close()).toBe(first);
    await first;
    const err = await rejection(publisher.publish(metric()));
    expect(err.code).toBe('SST_ERR_CLOSED');
  });

  describe('validates exactly what it sends (input parsed from an HTTP body)', () => {
    /**
     * A raw subscriber keeping every message's bytes, a real stream on the same channel (the server that
     * must accept what passed), and a publisher through a host client whose PUBLISH calls are recorded:
     * the text handed to Redis is the text the publisher validated (parsed back).
     */
    async function setup(): Promise<{ publisher: SystemPublisher; received: Buffer[]; handed: () => string[]; stream: SystemStream }> {
      const channel = redis.channel();
      const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      raw.on('error', () => {});
      cleanup.push(() => raw.disconnect());
      const received: Buffer[] = [];
      raw.on('messageBuffer', (_channel: Buffer, message: Buffer) => received.push(message));
      await raw.subscribe(channel);

      const stream = attachSystemStream(http.createServer(), { redis: redis.url, channel, auth: false });
      cleanup.push(() => stream.close());
      await stream.ready;

      const host = redis.publisher();
      const spy = vi.spyOn(host, 'publish');
      const handed = (): string[] => spy.mock.calls.map((call) => String(call[1]));
      return { publisher: publisherFor({ redis: host, channel }), received, handed, stream };
    }

    it('publishes what it validated byte for byte, and the server accepts it', async () => {
      const { publisher, received, handed, stream } = await setup();
      const body = JSON.parse(
        '{"metric_type":"cpu","value":12.5,"source":"host","time":"2026-01-17T04:30:00Z","meta":{"unit":"percent"}}',
      ) as MetricInput;
      await expect(publisher.publishMetric(body)).resolves.toBe(2); // the raw subscriber and the stream
      await expect.poll(() => received.length).toBe(1);
      expect(received[0]!.equals(Buffer.from(handed()[0]!, 'utf8'))).toBe(true);
      expect(handed()[0]).toBe(
        '{"type":"system_metric","data":{"time":"2026-01-17T04:30:00Z","metric_type":"cpu","value":12.5,"source":"host","meta":{"unit":"percent"}}}',
      );
      expect(envelopeValidator()(JSON.parse(received[0]!.toString('utf8')))).toBe(true);
      await expect.poll(() => stream.stats().valid).toBe(1);
      expect(stream.stats().invalid).toBe(0);
    });

    it.each([
      [
        'an own __proto__ key',
        '{"metric_type":"cpu","value":1,"source":"host","time":"2026-01-17T04:30:00Z","__proto__":{"unit":"percent"}}',
        'must not have property "__proto__"',
      ],
      // Assigned as the prototype, `source` would be inherited: seen by the required-field check, absent from the JSON.
      [
        'a __proto__ key smuggling a missing field',
        '{"metric_type":"cpu","value":1,"time":"2026-01-17T04:30:00Z","__proto__":{"source":"host"}}',
        /source|__proto__/,
      ],
      [
        'a __proto__ key smuggling an invalid value',
        '{"metric_type":"cpu","source":"host","time":"2026-01-17T04:30:00Z","value":1,"__proto__":{"value":"high"}}',
        'must not have property "__proto__"',
      ],
    ])('refuses %s, and nothing reaches Redis or the server', async (_what, json, message) => {
      const { publisher, received, handed, stream } = await setup();
      const err = await rejection(publisher.publishMetric(JSON.parse(json) as MetricInput));
      expect(err.code).toBe('SST_ERR_VALIDATION');
      expect(err.message).toMatch(message);
      // A marker published after the refusal is the first (and only) message anyone sees.
      await publisher.publishMetric({ metric_type: 'marker', value: 1, source: 'host' });
      await expect.poll(() => received.length).toBe(1);
      expect(JSON.parse(received[0]!.toString('utf8'))).toMatchObject({ data: { metric_type: 'marker' } });
      expect(handed()).toHaveLength(1);
      await expect.poll(() => stream.stats().valid).toBe(1);
      expect(stream.stats().invalid).toBe(0);
    });
  });

  describe('Redis down', () => {
    it('rejects with SST_ERR_REDIS_UNAVAILABLE within publishTimeoutMs, and recovers when Redis is back', async () => {
      const channel = redis.channel();
      const publisher = publisherFor({ redis: redis.url, channel, publishTimeoutMs: 300 });
      await publisher.ready;
      await redis.kill();

      const started = Date.now();
      const err = await rejection(publisher.publish(metric()));
      const elapsed = Date.now() - started;
      expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
      expect(elapsed).toBeLessThan(300 + 1000);

      await redis.start();
      const sub = await subscribe(channel);
      // The reconnect backoff is capped at 1 s; a call waits for the connection up to its timeout.
      let delivered = false;
      for (let attempt = 0; attempt < 20 && !delivered; attempt++) {
        delivered = await publisher.publish(metric('cpu', 99)).then(
          () => true,
          () => false,
        );
      }
      expect(delivered).toBe(true);
      expect(await sub.next()).toMatchObject({ data: { value: 99 } });
    });

    it('rejects within the bound when Redis never came up at all', async () => {
      const port = await freePort();
      const publisher = publisherFor({ redis: `redis://127.0.0.1:${port}`, channel: 'x', publishTimeoutMs: 200 });
      const started = Date.now();
      const err = await rejection(publisher.publish(metric()));
      expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(200 + 1000);
    });

    it('rejects within the bound when Redis hangs (the process is stopped, the socket stays open)', async () => {
      const publisher = publisherFor({ redis: redis.url, channel: redis.channel(), publishTimeoutMs: 300 });
      await publisher.ready;
      redis.pause();
      cleanup.push(() => redis.resume());
      const started = Date.now();
      const err = await rejection(publisher.publish(metric()));
      expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(300 + 1000);
    });

    it('never logs the Redis URL or its password', async () => {
      const port = await freePort();
      const logger = recordingLogger();
      const publisher = publisherFor({ redis: `redis://default:s3cret-pw@127.0.0.1:${port}`, channel: 'x', publishTimeoutMs: 200, logger });
      const err = await rejection(publisher.publish(metric()));
      expect(logger.lines.length).toBeGreaterThan(0); // the connection error was logged...
      for (const text of [...logger.lines.map((l) => l.text), err.message, String(err.cause)]) expect(text).not.toContain('s3cret-pw');
    });
  });
});
