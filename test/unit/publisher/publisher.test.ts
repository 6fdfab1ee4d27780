import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SystemStreamError, SystemStreamValidationError } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/logger.js';
import type { Envelope } from '../../../src/protocol/wire.js';
import { createSystemPublisher, type MetricInput, type SystemPublisher } from '../../../src/publisher/publisher.js';
import { alert, container, metric } from '../../helpers/fixtures.js';
import { rejection } from '../../helpers/rejection.js';

/** A stand-in for an ioredis client the host owns: records PUBLISH calls, has a status and events. */
class FakeRedis extends EventEmitter {
  status = 'ready';
  readonly published: { channel: string; message: string }[] = [];
  reply: () => Promise<number> = () => Promise.resolve(1);
  readonly quit = vi.fn();
  readonly disconnect = vi.fn();
  duplicate(): never {
    throw new Error('the publisher must not duplicate the client');
  }
  publish(channel: string, message: string): Promise<number> {
    this.published.push({ channel, message });
    return this.reply();
  }
}

async function validationError(promise: Promise<unknown>): Promise<SystemStreamValidationError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(SystemStreamValidationError);
  expect(err.code).toBe('SST_ERR_VALIDATION');
  return err as SystemStreamValidationError;
}

let publisher: SystemPublisher | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await publisher?.close();
  publisher = undefined;
});

function setup(options: { publishTimeoutMs?: number; logger?: Logger } = {}): { redis: FakeRedis; publisher: SystemPublisher } {
  const redis = new FakeRedis();
  publisher = createSystemPublisher({ redis, channel: 'test:metrics', ...options });
  return { redis, publisher };
}

describe('createSystemPublisher', () => {
  describe('publishMetric', () => {
    it('publishes a system_metric envelope with time defaulting to now, in ISO-8601 UTC', async () => {
      vi.useFakeTimers({ now: new Date('2026-01-17T04:30:00.000Z'), toFake: ['Date'] });
      const { redis, publisher } = setup();
      await expect(publisher.publishMetric({ metric_type: 'cpu', value: 45.2, source: 'host', meta: { unit: 'percent' } })).resolves.toBe(
        1,
      );
      expect(redis.published).toEqual([
        {
          channel: 'test:metrics',
          message: JSON.stringify({
            type: 'system_metric',
            data: { time: '2026-01-17T04:30:00.000Z', metric_type: 'cpu', value: 45.2, source: 'host', meta: { unit: 'percent' } },
          }),
        },
      ]);
    });

    it('sends a Date as ISO-8601 UTC and keeps a given string as it is', async () => {
      const { redis, publisher } = setup();
      await publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host', time: new Date(Date.UTC(2026, 0, 17, 4, 30)) });
      await publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host', time: '2026-01-17T13:30:00+09:00' });
      expect(redis.published.map((p) => (JSON.parse(p.message) as Envelope).data.time)).toEqual([
        '2026-01-17T04:30:00.000Z',
        '2026-01-17T13:30:00+09:00',
      ]);
    });

    it.each([
      ['a string value', { metric_type: 'cpu', value: '45', source: 'host' }, '/data/value'],
      ['NaN', { metric_type: 'cpu', value: Number.NaN, source: 'host' }, '/data/value'],
      ['Infinity', { metric_type: 'cpu', value: Infinity, source: 'host' }, '/data/value'],
      ['a metric_type with a colon', { metric_type: 'cpu:0', value: 1, source: 'host' }, '/data/metric_type'],
      ['an empty source', { metric_type: 'cpu', value: 1, source: '' }, '/data/source'],
      ['a time without a timezone', { metric_type: 'cpu', value: 1, source: 'host', time: '2026-01-17T04:30:00' }, '/data/time'],
      ['an invalid Date', { metric_type: 'cpu', value: 1, source: 'host', time: new Date('nope') }, '/data/time'],
      ['a nested meta value', { metric_type: 'cpu', value: 1, source: 'host', meta: { unit: { name: '%' } } }, '/data/meta/unit'],
    ])('rejects %s, naming the field, and publishes nothing', async (_what, input, path) => {
      const { redis, publisher } = setup();
      const err = await validationError(publisher.publishMetric(input as never));
      expect(err.issues[0]?.path).toBe(path);
      expect(err.message).toContain(path);
      expect(redis.published).toEqual([]);
    });

    it('rejects a missing field by name', async () => {
      const { redis, publisher } = setup();
      const err = await validationError(publisher.publishMetric({ metric_type: 'cpu', value: 1 } as never));
      expect(err.message).toMatch(/source/);
      expect(redis.published).toEqual([]);
    });

    it('rejects a misspelt extra field instead of dropping it silently', async () => {
      const { redis, publisher } = setup();
      const err = await validationError(publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host', unit: '%' } as never));
      expect(err.issues[0]).toEqual({ path: '/data', message: 'must not have property "unit"' });
      expect(redis.published).toEqual([]);
    });

    it('rejects input that is not an object', async () => {
      const { redis, publisher } = setup();
      await validationError(publisher.publishMetric(null as never));
      await validationError(publisher.publishMetric(42 as never));
      expect(redis.published).toEqual([]);
    });
  });

  describe('publishContainerStatus', () => {
    it('publishes a container_status envelope', async () => {
      const { redis, publisher } = setup();
      await publisher.publishContainerStatus({ container: 'tick-archiver', status: 'running', time: '2026-01-17T04:30:00Z' });
      expect(JSON.parse(redis.published[0]!.message)).toEqual({
        type: 'container_status',
        data: { time: '2026-01-17T04:30:00Z', container: 'tick-archiver', status: 'running' },
      });
    });

    it('rejects an unknown status', async () => {
      const { redis, publisher } = setup();
      const err = await validationError(publisher.publishContainerStatus({ container: 'x', status: 'sleeping' as never }));
      expect(err.issues[0]?.path).toBe('/data/status');
      expect(redis.published).toEqual([]);
    });
  });

  describe('publishAlert', () => {
    it('fills in a message when none is given', async () => {
      const { redis, publisher } = setup();
      await publisher.publishAlert({ level: 'critical', metric_type: 'cpu', source: 'host', value: 97.5, threshold: 95 });
      const sent = JSON.parse(redis.published[0]!.message) as Envelope;
      expect(sent).toMatchObject({ type: 'alert', data: { level: 'critical', value: 97.5, threshold: 95 } });
      expect(sent.type === 'alert' && sent.data.message).toBe('cpu on host at 97.5 (threshold 95)');
    });

    it('rejects an unknown level', async () => {
      const { redis, publisher } = setup();
      const err = await validationError(
        publisher.publishAlert({ level: 'panic' as never, metric_type: 'cpu', source: 'host', value: 1, threshold: 1 }),
      );
      expect(err.issues[0]?.path).toBe('/data/level');
      expect(redis.published).toEqual([]);
    });
  });

  describe('publish', () => {
    it('sends a batch as one Redis message holding an array', async () => {
      const { redis, publisher } = setup();
      const batch = [metric('cpu', 1), container(), alert()];
      await publisher.publish(batch);
      expect(redis.published).toHaveLength(1);
      expect(JSON.parse(redis.published[0]!.message)).toEqual(batch);
    });

    it('rejects a whole batch when one member is invalid, naming the member, and sends nothing', async () => {
      const { redis, publisher } = setup();
      const bad = { type: 'system_metric', data: { ...metric().data, value: 'high' } } as unknown as Envelope;
      const err = await validationError(publisher.publish([metric(), bad, metric()]));
      expect(err.issues[0]?.path).toBe('/1/data/value');
      expect(redis.published).toEqual([]);
    });

    it('rejects an empty batch and one over 1,000 envelopes', async () => {
      const { redis, publisher } = setup();
      await validationError(publisher.publish([]));
      await validationError(publisher.publish(Array.from({ length: 1001 }, () => metric())));
      expect(redis.published).toEqual([]);
      await publisher.publish(Array.from({ length: 1000 }, () => metric()));
      expect(redis.published.flatMap((p) => JSON.parse(p.message) as unknown[])).toHaveLength(1000); // in messages the server accepts
    });

    it('rejects an unknown envelope type', async () => {
      const { redis, publisher } = setup();
      await validationError(publisher.publish({ type: 'snapshot', data: [] } as never));
      expect(redis.published).toEqual([]);
    });
  });

  describe('validates exactly what it sends', () => {
    /** A metric input as `JSON.parse` makes it from an HTTP body: `__proto__` there is an own key. */
    const body = (json: string): MetricInput => JSON.parse(json) as MetricInput;

    it('keeps an own __proto__ key a field, which the schema refuses, instead of making it the prototype', async () => {
      const { redis, publisher } = setup();
      const input = body('{"metric_type":"cpu","value":1,"source":"host","__proto__":{"unit":"percent"}}');
      const err = await validationError(publisher.publishMetric(input));
      expect(err.issues[0]).toEqual({ path: '/data', message: 'must not have property "__proto__"' });
      expect(redis.published).toEqual([]);
      expect(Object.getPrototypeOf(input)).toBe(Object.prototype); // the caller's object is left alone
    });

    it('does not let a __proto__ key lend a missing field to validation', async () => {
      const { redis, publisher } = setup();
      // Assigned as a prototype, `source` would be inherited: required-field checks see it, JSON does not.
      const err = await validationError(publisher.publishMetric(body('{"metric_type":"cpu","value":1,"__proto__":{"source":"host"}}')));
      expect(err.issues.map((i) => i.path)).toContain('/data');
      expect(redis.published).toEqual([]);
    });

    it('refuses an own __proto__ key in an envelope passed to publish()', async () => {
      const { redis, publisher } = setup();
      const envelope = JSON.parse(`{"type":"system_metric","__proto__":{"x":1},"data":${JSON.stringify(metric().data)}}`) as Envelope;
      const err = await validationError(publisher.publish(envelope));
      expect(err.issues[0]).toEqual({ path: '', message: 'must not have property "__proto__"' });
      expect(redis.published).toEqual([]);
    });

    it('reads a getter once: what was validated is what was sent', async () => {
      const { redis, publisher } = setup();
      let reads = 0;
      const data = { ...metric().data };
      Object.defineProperty(data, 'value', { enumerable: true, get: () => (reads++ === 0 ? 42 : 'not a number') });
      await publisher.publish({ type: 'system_metric', data });
      expect(reads).toBe(1);
      expect((JSON.parse(redis.published[0]!.message) as { data: { value: unknown } }).data.value).toBe(42);
    });

    it('validates the JSON a toJSON method produces, not the object that has it', async () => {
      const { redis, publisher } = setup();
      class Sneaky {
        readonly type = 'system_metric';
        readonly data = metric().data;
        toJSON(): unknown {
          return { type: 'system_metric', data: { ...this.data, value: 'high' } };
        }
      }
      const err = await validationError(publisher.publish(new Sneaky() as unknown as Envelope));
      expect(err.issues[0]?.path).toBe('/data/value');
      expect(redis.published).toEqual([]);
    });

    it('refuses what JSON cannot carry with a validation error, not a TypeError', async () => {
      const { redis, publisher } = setup();
      const cyclic: Record<string, unknown> = { ...metric().data };
      cyclic['meta'] = cyclic;
      await validationError(publisher.publish({ type: 'system_metric', data: cyclic } as unknown as Envelope));
      await validationError(publisher.publishMetric({ metric_type: 'cpu', value: 10n as unknown as number, source: 'host' }));
      expect(redis.published).toEqual([]);
    });

    it('publishes a batch as the exact text it validated', async () => {
      const { redis, publisher } = setup();
      const batch = [metric('cpu', 1), { ...metric('memory', 2), extra: undefined } as Envelope];
      await publisher.publish(batch);
      expect(redis.published[0]!.message).toBe(JSON.stringify(batch));
    });
  });

  describe('Redis not ready', () => {
    it('waits for the client to become ready, then publishes', async () => {
      const { redis, publisher } = setup();
      redis.status = 'reconnecting';
      const sent = publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' });
      expect(redis.published).toEqual([]);
      redis.status = 'ready';
      redis.emit('ready');
      await expect(sent).resolves.toBe(1);
      expect(redis.published).toHaveLength(1);
      expect(redis.listenerCount('ready')).toBe(0);
    });

    it('rejects with SST_ERR_REDIS_UNAVAILABLE after publishTimeoutMs, having sent nothing', async () => {
      vi.useFakeTimers();
      const { redis, publisher } = setup({ publishTimeoutMs: 500 });
      redis.status = 'reconnecting';
      const sent = rejection(publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' }));
      await vi.advanceTimersByTimeAsync(499);
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect((await sent).code).toBe('SST_ERR_REDIS_UNAVAILABLE');
      expect(redis.published).toEqual([]);
      expect(redis.listenerCount('ready') + redis.listenerCount('end')).toBe(0);
    });

    it('rejects when Redis does not answer within publishTimeoutMs', async () => {
      vi.useFakeTimers();
      const { redis, publisher } = setup({ publishTimeoutMs: 500 });
      redis.reply = () => new Promise(() => {});
      const sent = rejection(publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' }));
      await vi.advanceTimersByTimeAsync(500);
      expect((await sent).code).toBe('SST_ERR_REDIS_UNAVAILABLE');
    });

    it('turns a Redis error into SST_ERR_REDIS_UNAVAILABLE with the cause', async () => {
      const { redis, publisher } = setup();
      redis.reply = () => Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
      const err = await rejection(publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' }));
      expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
      expect((err.cause as Error).message).toMatch(/enableOfflineQueue/);
    });

    it('rejects at once when the client has ended for good', async () => {
      const { redis, publisher } = setup();
      redis.status = 'end';
      expect((await rejection(publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' }))).code).toBe(
        'SST_ERR_REDIS_UNAVAILABLE',
      );
    });

    it('bounds the calls waiting for Redis: the 1,001st rejects at once', async () => {
      const { redis, publisher } = setup({ publishTimeoutMs: 60_000 });
      redis.status = 'reconnecting';
      const waiting = Array.from({ length: 1000 }, () => publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' }));
      for (const w of waiting) w.catch(() => {});
      const err = await rejection(publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' }));
      expect(err.code).toBe('SST_ERR_REDIS_UNAVAILABLE');
      await publisher.close();
      const results = await Promise.allSettled(waiting);
      expect(results.every((r) => r.status === 'rejected' && (r.reason as SystemStreamError).code === 'SST_ERR_CLOSED')).toBe(true);
      expect(redis.listenerCount('ready')).toBe(0);
    });
  });

  describe('ready', () => {
    it('resolves at once for a client that is already ready', async () => {
      const { publisher } = setup();
      await expect(publisher.ready).resolves.toBeUndefined();
    });

    it('rejects with SST_ERR_CLOSED when closed before Redis is ready', async () => {
      const redis = new FakeRedis();
      redis.status = 'connecting';
      publisher = createSystemPublisher({ redis });
      await publisher.close();
      expect((await rejection(publisher.ready)).code).toBe('SST_ERR_CLOSED');
    });
  });

  describe('close', () => {
    it('is idempotent and never closes a client it did not create', async () => {
      const { redis, publisher } = setup();
      const first = publisher.close();
      expect(publisher.close()).toBe(first);
      await first;
      expect(redis.quit).not.toHaveBeenCalled();
      expect(redis.disconnect).not.toHaveBeenCalled();
      expect(redis.listenerCount('ready') + redis.listenerCount('end') + redis.listenerCount('error')).toBe(0);
    });

    it('makes later calls reject with SST_ERR_CLOSED', async () => {
      const { redis, publisher } = setup();
      await publisher.close();
      expect((await rejection(publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' }))).code).toBe('SST_ERR_CLOSED');
      expect(redis.published).toEqual([]);
    });
  });

  describe('options', () => {
    it.each([
      ['a non-Redis URL', { redis: 'http://127.0.0.1:1' }, /`redis`/],
      ['an object without publish()', { redis: {} }, /`redis`/],
      ['an empty channel', { channel: '' }, /`channel`/],
      ['a zero publishTimeoutMs', { publishTimeoutMs: 0 }, /`publishTimeoutMs`.*got 0/],
      ['a fractional publishTimeoutMs', { publishTimeoutMs: 1.5 }, /`publishTimeoutMs`/],
      [
        'an infinite publishTimeoutMs',
        { publishTimeoutMs: Infinity },
        /`publishTimeoutMs` to be an integer from 1 to 2147482647 \(milliseconds\), got Infinity/,
      ],
      [
        'a publishTimeoutMs whose socket timeout (+1 s) would overflow a timer',
        { publishTimeoutMs: 2 ** 31 - 1 },
        /`publishTimeoutMs`.*got 2147483647/,
      ],
      [
        'a misspelt option',
        { publishTimeout: 500 },
        /Unknown option `publishTimeout` of createSystemPublisher; did you mean `publishTimeoutMs`\?/,
      ],
      ['a Redis URL ioredis cannot parse', { redis: 'redis://:pw@[::1' }, /`redis`.*not a valid URL/],
      ['a logger without warn()', { logger: { debug() {}, info() {}, error() {} } }, /`logger`/],
    ])('throws SST_ERR_INVALID_OPTION for %s', (_what, options, message) => {
      let thrown: unknown;
      try {
        createSystemPublisher({ redis: new FakeRedis(), ...options } as never);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(SystemStreamError);
      expect((thrown as SystemStreamError).code).toBe('SST_ERR_INVALID_OPTION');
      expect((thrown as Error).message).toMatch(message);
    });

    it('takes options given as undefined as left out', async () => {
      const redis = new FakeRedis();
      publisher = createSystemPublisher({ redis, channel: undefined, publishTimeoutMs: undefined, logger: undefined });
      expect(publisher.channel).toBe('system:metrics');
      await publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' });
      expect(redis.published[0]?.channel).toBe('system:metrics');
    });

    it('never repeats the Redis URL, which may hold a password, in an error', () => {
      expect(() => createSystemPublisher({ redis: 'http://user:hunter2@example.com' })).toThrow(SystemStreamError);
      try {
        createSystemPublisher({ redis: 'http://user:hunter2@example.com' });
      } catch (err) {
        expect(String((err as Error).message)).not.toContain('hunter2');
      }
    });
  });
});
