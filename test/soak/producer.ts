// The soak's producer: a sentinel-like batch every second, a flood now and then, a trickle of invalid
// messages, and probes that time the recovery after a Redis restart. Publishes with its own ioredis
// connection, which fails fast while Redis is down (as a real producer's would), and counts every outcome.
// With the Redis-backed history (the default), sentinel batches, floods and probes go through the
// publisher's script (XADD to the history stream + stamped PUBLISH); invalid messages stay plain PUBLISHes,
// as from a producer in another language.
import { Redis } from 'ioredis';
import type { AlertMessage, ContainerState, ContainerStatusMessage, Envelope, SystemMetricMessage } from '../../src/protocol/wire.js';
import { historyStreamKey, publishWithHistory, type HistoryTarget } from '../../src/redis/history-script.js';

/** What happened to the Redis messages of one kind. */
export interface PublishTally {
  /** Redis messages attempted. */
  attempted: number;
  /** PUBLISH answered 1+: the server's subscriber had it. */
  subscribed: number;
  /** PUBLISH answered 0: Redis was up but the server had not subscribed again yet. */
  noSubscriber: number;
  /** Of those, the ones also in the history stream, which the server recovers. */
  recoverable: number;
  /** PUBLISH failed: Redis down or the publisher not reconnected yet. */
  failed: number;
  /** Valid envelopes in the messages that reached the subscriber (live, or recovered from the history stream). */
  validEnvelopes: number;
  /** Invalid messages or batch members in the messages that reached the subscriber. */
  invalidItems: number;
}

export type PublishKind = 'sentinel' | 'flood' | 'invalid' | 'probe';

/** A sentinel metric Redis acknowledged: every client that reads must get it once. */
export interface AckedMetric {
  readonly seq: number;
  /** `performance.now()` when Redis answered. */
  readonly ackedAt: number;
  /** Redis answered 0 subscribers: only the history stream can bring it to the server. */
  readonly isUnsubscribed: boolean;
}

/** Marks every envelope the soak publishes: clients check order per key and measure latency with these. */
export interface SoakMeta {
  readonly seq: number;
  /** `performance.now()` of the driver at publish time; clients run in the same process. */
  readonly sent: number;
}

const CONTAINERS = ['api', 'nginx', 'redis-cache', 'tick-archiver', 'worker'] as const;
const DISKS = ['/', '/data', '/var'] as const;
/** Larger than the default `maxMessageBytes` (64 KiB). */
const OVERSIZED_BYTES = 70 * 1024;
export const INVALID_SOURCE = 'soak-invalid';
export const PROBE_METRIC = 'soak_probe';
export const FLOOD_METRIC = 'soak_flood';
export const FLOOD_HOT_METRIC = 'soak_flood_hot';
/** Flood: 2,000 msg/s, half on one hot key, half spread over 20 keys (so 21 keys, each far above 4/s). */
export const FLOOD_PER_S = 2000;
const FLOOD_TICK_MS = 10;
/** A late timer catches up, but never with more than this in one go. */
const FLOOD_MAX_PER_TICK = 200;
const FLOOD_KEYS = 20;

export class Producer {
  readonly tallies: Record<PublishKind, PublishTally> = {
    sentinel: tally(),
    flood: tally(),
    invalid: tally(),
    probe: tally(),
  };
  /** Invalid messages published by kind (attempts). */
  readonly invalidKinds: Record<string, number> = {};
  /** Container status changes published (and acknowledged by a subscriber). */
  containerChanges = 0;
  alerts = 0;
  /** Sentinel metric envelopes in batches Redis acknowledged, in publish order. */
  readonly ackedMetrics: AckedMetric[] = [];
  readonly #redis: Redis;
  readonly #history: HistoryTarget | null;
  readonly #random: () => number;
  #seq = 0;
  #tick = 0;
  #cpu = 40;
  #cpuAlerting = false;
  readonly #containers = new Map<string, ContainerState>(CONTAINERS.map((c) => [c, 'running']));
  #flood: NodeJS.Timeout | undefined;
  #invalidTurn = 0;

  constructor(
    redisUrl: string,
    readonly channel: string,
    random: () => number,
    useHistoryStream: boolean,
  ) {
    this.#random = random;
    this.#history = useHistoryStream ? { channel, streamKey: historyStreamKey(channel), maxLen: 10_000 } : null;
    this.#redis = new Redis(redisUrl, {
      enableOfflineQueue: false, // fail fast while Redis is down, like a sentinel that skips a tick
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(50 * attempt, 200),
      connectionName: 'soak:publisher',
    });
    this.#redis.on('error', () => {}); // expected during every restart
  }

  meta(): SoakMeta {
    return { seq: ++this.#seq, sent: performance.now() };
  }

  /** One sentinel tick: host metrics, disks, network, every container's status, and an alert on a crossing. */
  async sentinelTick(): Promise<void> {
    const tick = ++this.#tick;
    const time = new Date().toISOString();
    this.#cpu = Math.min(100, Math.max(0, this.#cpu + (this.#random() - 0.5) * 12 + (tick % 45 < 5 ? 12 : 0)));
    const batch: Envelope[] = [
      this.#metric('cpu', round(this.#cpu), 'host', time, { unit: 'percent' }),
      this.#metric('memory', round(55 + 10 * Math.sin(tick / 60)), 'host', time, { unit: 'percent' }),
      this.#metric('load', round(0.5 + 1.5 * this.#random()), 'host', time, { unit: 'load', window: '1m', cpus: 2 }),
      ...DISKS.map((mount, i) => this.#metric('disk', round(30 + 10 * i + tick / 1000), mount, time, { unit: 'percent' })),
      this.#metric('net_rx', Math.round(100_000 * this.#random()), 'eth0', time, { unit: 'bytes/s' }),
      this.#metric('net_tx', Math.round(50_000 * this.#random()), 'eth0', time, { unit: 'bytes/s' }),
    ];
    // Every ~90 s one container restarts: restarting this tick, running the next.
    let changes = 0;
    for (const [name, status] of this.#containers) {
      if (status === 'restarting') {
        this.#containers.set(name, 'running');
        changes++;
      }
    }
    if (tick % 90 === 45) {
      const name = CONTAINERS[Math.floor(this.#random() * CONTAINERS.length)] ?? 'api';
      this.#containers.set(name, 'restarting');
      changes++;
    }
    for (const [container, status] of this.#containers) {
      batch.push({ type: 'container_status', data: { container, status, time } } satisfies ContainerStatusMessage);
    }
    let alerts = 0;
    if (!this.#cpuAlerting && this.#cpu >= 90) {
      this.#cpuAlerting = true;
      batch.push(this.#alert('critical', time));
      alerts++;
    } else if (this.#cpuAlerting && this.#cpu < 80) {
      this.#cpuAlerting = false;
      batch.push(this.#alert('resolved', time));
      alerts++;
    }
    const receivers = await this.#publish('sentinel', JSON.stringify(batch), batch.length, 0);
    if (receivers !== undefined) {
      const ackedAt = performance.now();
      for (const e of batch) {
        const seq = e.type === 'system_metric' ? e.data.meta?.['seq'] : undefined;
        if (typeof seq === 'number') this.ackedMetrics.push({ seq, ackedAt, isUnsubscribed: receivers === 0 });
      }
    }
    if ((receivers ?? 0) > 0 || (receivers === 0 && this.#history !== null)) {
      this.containerChanges += changes;
      this.alerts += alerts;
    }
  }

  /** A probe on its own key, for timing the first live message after a restart. */
  async probe(): Promise<boolean> {
    const envelope = this.#metric(PROBE_METRIC, 1, 'soak', new Date().toISOString(), {});
    return ((await this.#publish('probe', JSON.stringify(envelope), 1, 0)) ?? 0) > 0;
  }

  /** One invalid message, a different kind each time. */
  async invalidTick(): Promise<void> {
    const time = new Date().toISOString();
    const turn = this.#invalidTurn++;
    const bad = (data: Record<string, unknown>): string =>
      JSON.stringify({ type: 'system_metric', data: { time, metric_type: 'cpu', value: 1, source: INVALID_SOURCE, ...data } });
    const kinds: [string, () => { payload: string; valid: number; invalid: number }][] = [
      ['truncated JSON', () => ({ payload: bad({}).slice(0, 40), valid: 0, invalid: 1 })],
      ['value as string', () => ({ payload: bad({ value: 'high' }), valid: 0, invalid: 1 })],
      ['value "NaN"', () => ({ payload: bad({ value: 'NaN' }), valid: 0, invalid: 1 })],
      ['unknown type', () => ({ payload: JSON.stringify({ type: 'bogus', data: { source: INVALID_SOURCE } }), valid: 0, invalid: 1 })],
      ['__proto__ key', () => ({ payload: bad({}).replace('{"type"', '{"__proto__":{"polluted":true},"type"'), valid: 0, invalid: 1 })],
      ['oversized (70 KiB)', () => ({ payload: bad({ meta: { blob: 'x'.repeat(OVERSIZED_BYTES) } }), valid: 0, invalid: 1 })],
      ['empty batch', () => ({ payload: '[]', valid: 0, invalid: 1 })],
      [
        'batch with one bad member',
        () => {
          const good = [this.#metric('batch_ok', 1, 'a', time, {}), this.#metric('batch_ok', 2, 'b', time, {})];
          return {
            payload: `[${JSON.stringify(good[0])},${bad({ metric_type: 'bad:type' })},${JSON.stringify(good[1])}]`,
            valid: 2,
            invalid: 1,
          };
        },
      ],
    ];
    const [name, make] = kinds[turn % kinds.length] as (typeof kinds)[number];
    this.invalidKinds[name] = (this.invalidKinds[name] ?? 0) + 1;
    const { payload, valid, invalid } = make();
    await this.#publish('invalid', payload, valid, invalid, true);
  }

  /** Starts a flood of `FLOOD_PER_S` msg/s, paced by the clock rather than by timer ticks; `stopFlood()` ends it. */
  startFlood(): void {
    if (this.#flood) return;
    const startedAt = performance.now();
    let sent = 0;
    this.#flood = setInterval(() => {
      const time = new Date().toISOString();
      const due = Math.min(FLOOD_MAX_PER_TICK, Math.floor(((performance.now() - startedAt) * FLOOD_PER_S) / 1000) - sent);
      for (let i = 0; i < due; i++, sent++) {
        const envelope =
          sent % 2 === 0
            ? this.#metric(FLOOD_HOT_METRIC, round(100 * this.#random()), 'host', time, { unit: 'percent' })
            : this.#metric(FLOOD_METRIC, round(100 * this.#random()), `f${(sent >> 1) % FLOOD_KEYS}`, time, { unit: 'percent' });
        void this.#publish('flood', JSON.stringify(envelope), 1, 0);
      }
    }, FLOOD_TICK_MS);
  }

  stopFlood(): void {
    clearInterval(this.#flood);
    this.#flood = undefined;
  }

  close(): void {
    this.stopFlood();
    this.#redis.disconnect();
  }

  /** Resolves with the number of subscribers Redis reported, or `undefined` when the publish failed. */
  async #publish(kind: PublishKind, payload: string, valid: number, invalid: number, isPlain = false): Promise<number | undefined> {
    const t = this.tallies[kind];
    t.attempted++;
    try {
      const receivers =
        this.#history === null || isPlain
          ? await this.#redis.publish(this.channel, payload)
          : await publishWithHistory(this.#redis, this.#history, payload);
      if (receivers > 0) {
        t.subscribed++;
        t.validEnvelopes += valid;
        t.invalidItems += invalid;
      } else {
        t.noSubscriber++;
        // In the history stream: the server recovers it after its subscriber is back.
        if (this.#history !== null && !isPlain) {
          t.recoverable++;
          t.validEnvelopes += valid;
          t.invalidItems += invalid;
        }
      }
      return receivers;
    } catch {
      t.failed++;
      return undefined;
    }
  }

  #metric(metric_type: string, value: number, source: string, time: string, meta: Record<string, string | number>): SystemMetricMessage {
    return { type: 'system_metric', data: { time, metric_type, value, source, meta: { ...meta, ...this.meta() } } };
  }

  #alert(level: AlertMessage['data']['level'], time: string): AlertMessage {
    const threshold = 90;
    const value = round(this.#cpu);
    return {
      type: 'alert',
      data: {
        level,
        metric_type: 'cpu',
        source: 'host',
        value,
        threshold,
        message: `cpu on host at ${value} % (threshold ${threshold} %)`,
        time,
      },
    };
  }
}

function tally(): PublishTally {
  return { attempted: 0, subscribed: 0, noSubscriber: 0, recoverable: 0, failed: 0, validEnvelopes: 0, invalidItems: 0 };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
