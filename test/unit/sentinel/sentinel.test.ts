import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SystemStreamError } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/logger.js';
import type { Envelope } from '../../../src/protocol/wire.js';
import { chunkBatch } from '../../../src/sentinel/batch-builder.js';
import type { SentinelOptions } from '../../../src/sentinel/sentinel-options.js';
import type { SystemSample } from '../../../src/sentinel/sample.js';
import { startSentinel, type Sentinel } from '../../../src/sentinel/sentinel.js';
import { metric } from '../../helpers/fixtures.js';

function fixture(name: string): SystemSample {
  return JSON.parse(readFileSync(new URL(`../../fixtures/si/${name}`, import.meta.url), 'utf8')) as SystemSample;
}
const steady = fixture('steady-sample.json');
const dockerHost = fixture('docker-host.json');

/** A sampler returning `base` with the CPU value of each call taken from `cpu` (the last one repeats). */
function scriptedSampler(base: SystemSample, cpu: number[] = [10]) {
  let calls = 0;
  const sampler = vi.fn(async (): Promise<SystemSample> => {
    const value = cpu[Math.min(calls, cpu.length - 1)]!;
    calls++;
    return { ...base, time: new Date().toISOString(), currentLoad: { currentLoad: value } };
  });
  return sampler;
}

function recordingPublisher() {
  const batches: Envelope[][] = [];
  let fail = false;
  return {
    batches,
    failNext(value: boolean) {
      fail = value;
    },
    publish: vi.fn(async (envelopes: Envelope | readonly Envelope[]): Promise<number> => {
      if (fail) throw new SystemStreamError('SST_ERR_REDIS_UNAVAILABLE', 'Redis unavailable: test');
      batches.push([...(Array.isArray(envelopes) ? envelopes : [envelopes])]);
      return 1;
    }),
  };
}

type LogFn = (obj: object, msg?: string) => void;
function spyLogger() {
  return { debug: vi.fn<LogFn>(), info: vi.fn<LogFn>(), warn: vi.fn<LogFn>(), error: vi.fn<LogFn>() } satisfies Logger;
}

let sentinel: Sentinel | undefined;
beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-01-17T04:30:00Z') });
});
afterEach(async () => {
  const stopping = sentinel?.stop();
  await vi.runOnlyPendingTimersAsync();
  await stopping;
  sentinel = undefined;
  vi.useRealTimers();
});

/** Starts a sentinel for the host `web-1` unless `options` name another `source`. */
function start(options: SentinelOptions): Sentinel {
  sentinel = startSentinel({ source: 'web-1', ...options });
  return sentinel;
}

const types = (batch: readonly Envelope[]): string[] =>
  batch.map((e) =>
    e.type === 'system_metric'
      ? `${e.data.metric_type}:${e.data.source}`
      : e.type === 'alert'
        ? `alert:${e.data.level}`
        : `container:${e.data.container}`,
  );

describe('startSentinel', () => {
  it('publishes one batch at once and then one per interval', async () => {
    const publisher = recordingPublisher();
    start({ publisher, sampler: scriptedSampler(steady), intervalMs: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(publisher.batches).toHaveLength(1);
    expect(types(publisher.batches[0]!)).toEqual([
      'cpu:web-1',
      'memory:web-1',
      'load:web-1',
      'disk:web-1:/',
      'net_rx:web-1:eth0',
      'net_tx:web-1:eth0',
      'net_rx:web-1:lo',
      'net_tx:web-1:lo',
    ]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(publisher.batches).toHaveLength(4);
  });

  it('never overlaps a slow sampler: the ticks it overran are skipped, not queued', async () => {
    const publisher = recordingPublisher();
    let running = 0;
    let maxRunning = 0;
    const sampler = vi.fn(async (): Promise<SystemSample> => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((resolve) => setTimeout(resolve, 2500)); // 2.5 intervals
      running--;
      return steady;
    });
    const logger = spyLogger();
    start({ publisher, sampler, intervalMs: 1000, logger });
    await vi.advanceTimersByTimeAsync(10_000);
    // Samples start at 0, 3000, 6000, 9000: the grid slot after each 2.5 s sample, never two at once.
    expect(sampler).toHaveBeenCalledTimes(4);
    expect(maxRunning).toBe(1);
    expect(publisher.batches).toHaveLength(3);
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ skipped: 2 }), expect.stringMatching(/overran/));
  });

  it('puts alerts first in the batch, at the crossing only, and a resolved one when the value falls back', async () => {
    const publisher = recordingPublisher();
    start({ publisher, sampler: scriptedSampler(steady, [50, 93, 92, 91, 80]), intervalMs: 1000 });
    await vi.advanceTimersByTimeAsync(4000);
    const alerts = publisher.batches.map((b) => types(b).filter((t) => t.startsWith('alert:')));
    expect(alerts).toEqual([[], ['alert:warning'], [], [], ['alert:resolved']]);
    expect(types(publisher.batches[1]!)[0]).toBe('alert:warning');
    expect(publisher.batches[1]![0]).toMatchObject({
      type: 'alert',
      data: { metric_type: 'cpu', source: 'web-1', value: 93, threshold: 90 },
    });
  });

  it('applies custom thresholds', async () => {
    const publisher = recordingPublisher();
    start({ publisher, sampler: scriptedSampler(steady, [50]), thresholds: { cpu: 40, disk: false }, intervalMs: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(types(publisher.batches[0]!)[0]).toBe('alert:warning');
  });

  it('publishes containers on change and re-announces them every containerReannounceMs', async () => {
    const publisher = recordingPublisher();
    let state = 'running';
    const sampler = vi.fn(async (): Promise<SystemSample> => ({
      ...dockerHost,
      time: new Date().toISOString(),
      dockerContainers: [
        { name: 'api', state },
        { name: 'db', state: 'running' },
      ],
    }));
    start({ publisher, sampler, intervalMs: 1000, containerReannounceMs: 5000 });
    await vi.advanceTimersByTimeAsync(0);
    const containers = (): string[][] => publisher.batches.map((b) => types(b).filter((t) => t.startsWith('container:')));
    expect(containers()).toEqual([['container:web-1/api', 'container:web-1/db']]);
    await vi.advanceTimersByTimeAsync(1000);
    state = 'exited';
    await vi.advanceTimersByTimeAsync(1000);
    await vi.advanceTimersByTimeAsync(3000);
    expect(containers()).toEqual([
      ['container:web-1/api', 'container:web-1/db'],
      [],
      ['container:web-1/api'],
      [],
      [],
      ['container:web-1/api', 'container:web-1/db'],
    ]);
  });

  describe('re-announcing active alerts', () => {
    const alertsOf = (batch: readonly Envelope[]): Envelope[] => batch.filter((e) => e.type === 'alert');

    it('publishes every alert still active again with the containers, unchanged, every containerReannounceMs', async () => {
      const publisher = recordingPublisher();
      // cpu 93 from the second sample on: a warning raised at t = 1 s that stays active.
      start({ publisher, sampler: scriptedSampler(steady, [50, 93]), intervalMs: 1000, containerReannounceMs: 5000 });
      await vi.advanceTimersByTimeAsync(1000);
      const raised = alertsOf(publisher.batches[1]!);
      expect(raised).toMatchObject([{ data: { level: 'warning', source: 'web-1', value: 93 } }]);
      await vi.advanceTimersByTimeAsync(9000);
      // Ticks at 0..10 s; re-announces at 0 (nothing active yet), 5 and 10 s: the alert as first sent,
      // so its time still says when it was raised.
      expect(publisher.batches.map((b) => alertsOf(b).length)).toEqual([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
      expect(alertsOf(publisher.batches[5]!)).toEqual(raised);
      expect(alertsOf(publisher.batches[10]!)).toEqual(raised);
    });

    it('does not re-announce a resolved alert', async () => {
      const publisher = recordingPublisher();
      start({ publisher, sampler: scriptedSampler(steady, [93, 93, 50]), intervalMs: 1000, containerReannounceMs: 3000 });
      await vi.advanceTimersByTimeAsync(7000);
      expect(publisher.batches.map((b) => types(b).filter((t) => t.startsWith('alert:')))).toEqual([
        ['alert:warning'],
        [],
        ['alert:resolved'],
        [], // 3 s: a re-announce, but nothing is active
        [],
        [],
        [],
        [],
      ]);
    });

    it('re-announces the eased level, not the first one, and once per series when the batch already has it', async () => {
      const publisher = recordingPublisher();
      // critical at 0 s, eased to warning at 2 s (below 95 − 5); the re-announce at 2 s carries it once.
      start({ publisher, sampler: scriptedSampler(steady, [97, 96, 89]), intervalMs: 1000, containerReannounceMs: 2000 });
      await vi.advanceTimersByTimeAsync(4000);
      expect(publisher.batches.map((b) => types(b).filter((t) => t.startsWith('alert:')))).toEqual([
        ['alert:critical'],
        [],
        ['alert:warning'],
        [],
        ['alert:warning'],
      ]);
    });
  });

  describe('option: source', () => {
    it("defaults to the machine's hostname", async () => {
      const publisher = recordingPublisher();
      sentinel = startSentinel({ publisher, sampler: scriptedSampler(steady), intervalMs: 1000 });
      await vi.advanceTimersByTimeAsync(0);
      const cpu = publisher.batches[0]!.find((e) => e.type === 'system_metric' && e.data.metric_type === 'cpu');
      expect(cpu).toMatchObject({ data: { source: hostname(), meta: { host: hostname() } } });
    });

    it('names every series, alert and container of the host', async () => {
      const publisher = recordingPublisher();
      start({ publisher, source: 'db-7', sampler: scriptedSampler(dockerHost, [97]), intervalMs: 1000 });
      await vi.advanceTimersByTimeAsync(0);
      const batch = publisher.batches[0]!;
      const names = batch.map((e) => (e.type === 'container_status' ? e.data.container : e.data.source));
      expect(names.every((n) => n === 'db-7' || n.startsWith('db-7:') || n.startsWith('db-7/'))).toBe(true);
      expect(types(batch)).toEqual(
        expect.arrayContaining(['alert:critical', 'cpu:db-7', 'disk:db-7:/var/lib/docker', 'net_rx:db-7:eth0', 'container:db-7/api']),
      );
    });
  });

  it('without a Docker daemon, warns once and goes on with host metrics', async () => {
    const publisher = recordingPublisher();
    const logger = spyLogger();
    start({ publisher, sampler: scriptedSampler(steady), intervalMs: 1000, logger });
    await vi.advanceTimersByTimeAsync(5000);
    const dockerWarnings = logger.warn.mock.calls.filter(([, msg]) => /Docker/.test(String(msg)));
    expect(dockerWarnings).toHaveLength(1);
    expect(publisher.batches).toHaveLength(6);
    expect(publisher.batches.every((b) => b.every((e) => e.type === 'system_metric'))).toBe(true);
  });

  it('re-sends alerts and re-announces containers after a failed publish, and keeps ticking', async () => {
    const publisher = recordingPublisher();
    const logger = spyLogger();
    start({ publisher, sampler: scriptedSampler(dockerHost, [50, 97, 97]), intervalMs: 1000, logger });
    await vi.advanceTimersByTimeAsync(0);
    publisher.failNext(true);
    await vi.advanceTimersByTimeAsync(1000); // the critical alert's batch fails
    publisher.failNext(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(publisher.batches).toHaveLength(2);
    const retried = types(publisher.batches[1]!);
    expect(retried[0]).toBe('alert:critical');
    expect(retried.filter((t) => t.startsWith('container:'))).toHaveLength(4);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: expect.objectContaining({ code: 'SST_ERR_REDIS_UNAVAILABLE' }) }),
      expect.any(String),
    );
  });

  it('logs a failed sample and tries again next tick', async () => {
    const publisher = recordingPublisher();
    const logger = spyLogger();
    const sampler = vi.fn<() => Promise<SystemSample>>().mockRejectedValueOnce(new Error('EIO')).mockResolvedValue(steady);
    start({ publisher, sampler, intervalMs: 1000, logger });
    await vi.advanceTimersByTimeAsync(1000);
    expect(publisher.batches).toHaveLength(1);
    expect(logger.warn).toHaveBeenCalledWith({ err: { message: 'EIO' } }, 'sampling failed');
  });

  it('drops an envelope the schema refuses and publishes the rest', async () => {
    const publisher = recordingPublisher();
    // A filesystem reporting an infinite size: its metric's meta.size_bytes is not a finite number.
    const sample: SystemSample = {
      ...steady,
      fsSize: [...steady.fsSize, { ...steady.fsSize[0]!, mount: '/huge', size: Infinity, use: 50 }],
    };
    const logger = spyLogger();
    start({ publisher, sampler: async () => sample, intervalMs: 1000, logger });
    await vi.advanceTimersByTimeAsync(0);
    expect(types(publisher.batches[0]!)).toContain('disk:web-1:/');
    expect(types(publisher.batches[0]!)).not.toContain('disk:web-1:/huge');
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ type: 'system_metric' }), 'dropped an envelope the schema refuses');
  });

  describe('stop', () => {
    it('waits for the tick in progress, publishes nothing after, and is idempotent', async () => {
      const publisher = recordingPublisher();
      let release: (() => void) | undefined;
      const sampler = vi.fn(() => new Promise<SystemSample>((resolve) => (release = () => resolve(steady))));
      const s = start({ publisher, sampler, intervalMs: 1000 });
      await vi.advanceTimersByTimeAsync(0);
      const stopped = s.stop();
      expect(s.stop()).toBe(stopped);
      let isDone = false;
      void stopped.then(() => (isDone = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(isDone).toBe(false);
      release!();
      await stopped;
      await vi.advanceTimersByTimeAsync(5000);
      expect(sampler).toHaveBeenCalledTimes(1);
      expect(publisher.batches).toEqual([]); // the sample that finished after stop() is not published
      expect(vi.getTimerCount()).toBe(0);
    });

    it('does not close a publisher it was given', async () => {
      const publisher = { ...recordingPublisher(), close: vi.fn() };
      const s = start({ publisher, sampler: scriptedSampler(steady) });
      await s.stop();
      expect(publisher.close).not.toHaveBeenCalled();
    });
  });

  describe('options', () => {
    it('takes options given as undefined as left out', async () => {
      const publisher = recordingPublisher();
      start({
        publisher,
        sampler: scriptedSampler(steady),
        intervalMs: undefined,
        containerReannounceMs: undefined,
        thresholds: undefined,
        logger: undefined,
        redis: undefined,
        channel: undefined,
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(publisher.batches).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(999);
      expect(publisher.batches).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(publisher.batches).toHaveLength(2); // the default interval, 1000 ms
    });

    it.each([
      ['publisher together with redis', { publisher: recordingPublisher(), redis: 'redis://127.0.0.1:1' }, /either `publisher` or `redis`/],
      ['publisher without publish()', { publisher: {} }, /`publisher`/],
      ['an interval under 100 ms', { publisher: recordingPublisher(), intervalMs: 50 }, /`intervalMs`.*got 50/],
      ['a fractional reannounce interval', { publisher: recordingPublisher(), containerReannounceMs: 0.5 }, /`containerReannounceMs`/],
      ['a sampler that is not a function', { publisher: recordingPublisher(), sampler: 'si' }, /`sampler`/],
      ['bad thresholds', { publisher: recordingPublisher(), thresholds: { cpu: 'high' } }, /thresholds\.cpu/],
      [
        'an infinite interval',
        { publisher: recordingPublisher(), intervalMs: Infinity },
        /`intervalMs` to be an integer from 100 to 2147483647 \(milliseconds\), got Infinity/,
      ],
      ['an interval past the timer limit', { publisher: recordingPublisher(), intervalMs: 2 ** 31 }, /`intervalMs`.*got 2147483648/],
      [
        'a NaN reannounce interval',
        { publisher: recordingPublisher(), containerReannounceMs: Number.NaN },
        /`containerReannounceMs`.*got NaN/,
      ],
      [
        'a misspelt option',
        { publisher: recordingPublisher(), intervalMS: 500 },
        /Unknown option `intervalMS` of startSentinel; did you mean `intervalMs`\?/,
      ],
      ['a misspelt redis next to a publisher', { publisher: recordingPublisher(), redsi: 'redis://127.0.0.1:1' }, /did you mean `redis`\?/],
      [
        'a Redis URL ioredis cannot parse',
        { redis: 'redis://:hunter2@[::1' },
        /^Expected `redis` to be a redis:\/\/ or rediss:\/\/ URL that ioredis can open, but [^]*$/,
      ],
      ['a source with a colon', { publisher: recordingPublisher(), source: 'web:1' }, /`source`.*got "web:1"/],
    ])('throws SST_ERR_INVALID_OPTION for %s, starting nothing', (_what, options, message) => {
      let thrown: unknown;
      try {
        startSentinel(options as never);
      } catch (err) {
        thrown = err;
      }
      expect((thrown as SystemStreamError).code).toBe('SST_ERR_INVALID_OPTION');
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).not.toContain('hunter2');
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});

describe('chunkBatch', () => {
  it('keeps a small batch whole', () => {
    const batch = [metric(), metric()];
    expect(chunkBatch(batch)).toEqual([batch]);
  });

  it('splits by size so that no Redis message exceeds the limit, keeping order', () => {
    const batch = Array.from({ length: 50 }, (_, i) => metric('cpu', i));
    const chunks = chunkBatch(batch, 2000);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.flat()).toEqual(batch);
    for (const chunk of chunks) expect(Buffer.byteLength(JSON.stringify(chunk))).toBeLessThanOrEqual(2000);
  });

  it('splits at 1,000 envelopes', () => {
    const chunks = chunkBatch(
      Array.from({ length: 2500 }, () => metric()),
      Infinity,
    );
    expect(chunks.map((c) => c.length)).toEqual([1000, 1000, 500]);
  });
});
