// Failover on a real Redis Cluster (cluster-node-timeout 1000): kill -9 the master that owns the
// channel's slot while producers publish every 20 ms. Clients must hear about it (503), then get a 200
// and live data once the replica is promoted, with no restart and no flood of log lines.
import { randomUUID } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SystemStreamError } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/logger.js';
import { createSystemPublisher } from '../../src/publisher/publisher.js';
import { keySlot } from '../../src/redis/key-slot.js';
import { failOnProcessCrash } from '../helpers/crash-guard.js';
import { createDisposers } from '../helpers/disposers.js';
import { metric } from '../helpers/fixtures.js';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.js';
import { startReadyServer, type startServer, type TestServer } from '../helpers/server.js';
import { connectOpen, type TestClient, is200, is503 } from '../helpers/ws-client.js';

let cluster: TestCluster;
const disposers = createDisposers();
beforeAll(async () => {
  cluster = await startCluster();
});
afterEach(() => disposers.runAll());
afterAll(async () => {
  await cluster?.stop();
});
failOnProcessCrash();

interface LogLine {
  readonly level: keyof Logger;
  readonly msg: string;
  readonly obj: object;
}

function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: keyof Logger) => (obj: object, msg?: string) => void lines.push({ level, msg: msg ?? '', obj });
  return { lines, debug: () => {}, info: at('info'), warn: at('warn'), error: at('error') };
}

/** The host's Cluster, with the copy the stream makes of it recorded, so that a test can count its error events. */
function hostCluster(options: Parameters<TestCluster['client']>[0]): { host: Cluster; copyErrors: () => number } {
  const host = cluster.client(options);
  let errors = 0;
  const duplicate = host.duplicate.bind(host);
  host.duplicate = ((...args: Parameters<Cluster['duplicate']>) => {
    const copy = duplicate(...args);
    copy.on('error', () => void errors++);
    return copy;
  }) as Cluster['duplicate'];
  return { host, copyErrors: () => errors };
}

const serve = (options: Parameters<typeof startServer>[0]): Promise<TestServer> => startReadyServer(disposers, options);

async function openClient(server: TestServer): Promise<TestClient> {
  const c = await connectOpen(server.wsUrl());
  disposers.add(() => c.close());
  return c;
}

/** Every `everyMs`, calls `send(seq)`; `stop()` ends it and waits for what is in flight. */
function every(everyMs: number, send: (seq: number) => Promise<unknown>): { stop(): Promise<void> } {
  let seq = 0;
  const inFlight = new Set<Promise<unknown>>();
  const timer = setInterval(() => {
    const p = send(++seq).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Restarts `node` (it rejoins as a replica) and waits for a healthy cluster again. */
async function restart(node: TestCluster['nodes'][number]): Promise<void> {
  await node.start();
  await cluster.waitForStateOk();
}

describe('Redis Cluster failover', () => {
  it("sharded: killing the channel's master sends 503 at once, then 200 and live data after the promotion, by itself", async () => {
    const channel = `failover:${randomUUID()}`;
    const logger = recordingLogger();
    const { host, copyErrors } = hostCluster({ shardedSubscribers: true });
    const s = await serve({ redis: host, channel, sharded: true, logger });
    const clients = [await openClient(s), await openClient(s)];
    const publisher = createSystemPublisher({ redis: cluster.client(), channel, sharded: true, publishTimeoutMs: 500 });
    disposers.add(() => publisher.close());
    await publisher.ready;

    // Publish every 20 ms through the whole failover, recording each outcome and how long it took.
    const outcomes: { ok: boolean; code?: string; ms: number; at: number }[] = [];
    const load = every(20, async (seq) => {
      const started = performance.now();
      try {
        await publisher.publishMetric({ metric_type: 'load', value: seq, source: 'host' });
        outcomes.push({ ok: true, ms: performance.now() - started, at: performance.now() });
      } catch (err) {
        outcomes.push({ ok: false, code: (err as SystemStreamError).code, ms: performance.now() - started, at: performance.now() });
      }
    });
    await clients[0]!.waitFor((p) => p.type === 'system_metric', 3000);

    const master = await cluster.masterOfSlot(keySlot(channel));
    const killedAt = performance.now();
    await master.kill('SIGKILL');
    disposers.add(() => restart(master));

    await Promise.all(clients.map((c) => c.waitFor(is503, 1000)));
    const noticedMs = performance.now() - killedAt;
    expect(s.stream.stats().redis).toBe('down');
    for (const c of clients) expect(c.ws.readyState).toBe(c.ws.OPEN);

    const promoted = await cluster.waitForNewMaster(keySlot(channel), master.port);
    const promotedMs = performance.now() - killedAt;
    await Promise.all(clients.map((c) => c.waitFor(is200, 10_000)));
    const restoredMs = performance.now() - killedAt;
    const after = clients[0]!.packets.findIndex(is200);
    await clients[0]!.waitFor((p) => p.type === 'system_metric', 3000, after);
    const dataMs = performance.now() - killedAt;
    // The publisher's own Cluster client may take a few more redirections to find the new master: keep
    // publishing until ten in a row have gone through (at most 10 s).
    await expect.poll(() => outcomes.length >= 10 && outcomes.slice(-10).every((o) => o.ok), { timeout: 10_000, interval: 50 }).toBe(true);
    await load.stop();

    expect(promoted.port).not.toBe(master.port);
    expect(s.stream.stats().redis).toBe('up');
    // 503 and 200 once each per client: one transition each way.
    for (const c of clients) expect([c.packets.filter(is503).length, c.packets.filter(is200).length]).toEqual([1, 1]);
    // Failures are fast and typed: SST_ERR_REDIS_UNAVAILABLE, never slower than publishTimeoutMs (+ timer slack).
    const failures = outcomes.filter((o) => !o.ok);
    expect(failures.every((f) => f.code === 'SST_ERR_REDIS_UNAVAILABLE')).toBe(true);
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(1000);
    const lastFailure = Math.max(...failures.map((f) => f.at));
    const publisherBackMs = (outcomes.find((o) => o.ok && o.at > lastFailure)?.at ?? NaN) - killedAt;
    // ioredis's sharded subscribers reconnect in a tight loop while the shard has no master; the log gets
    // one line for all of them (rate-limited), and one error for the outage.
    const errorLines = logger.lines.filter((l) => l.msg === 'redis subscriber error');
    expect(copyErrors()).toBeGreaterThan(errorLines.length);
    expect(errorLines.length).toBeLessThanOrEqual(2);
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['redis unavailable; clients notified with 503']);
    console.info(
      `sharded failover: 503 after ${noticedMs.toFixed(0)} ms, new master after ${promotedMs.toFixed(0)} ms, 200 after ${restoredMs.toFixed(0)} ms, ` +
        `data after ${dataMs.toFixed(0)} ms; publisher: ${failures.length} of ${outcomes.length} publishes failed, the last ${(lastFailure - killedAt).toFixed(0)} ms after the kill, ` +
        `publishing again after ${publisherBackMs.toFixed(0)} ms; ${copyErrors()} client error events, ${errorLines.length} log lines`,
    );
  });

  it("classic: killing the subscriber's node sends 503, then 200 and data through another node at once", async () => {
    const channel = `failover:${randomUUID()}`;
    const logger = recordingLogger();
    const s = await serve({ redis: cluster.client(), channel, logger });
    const c = await openClient(s);
    const pub = cluster.client();
    const load = every(20, (seq) => pub.publish(channel, JSON.stringify(metric('load', seq))).catch(() => 0));
    await c.waitFor((p) => p.type === 'system_metric', 3000);
    const [subscriber] = (await cluster.connectionsNamed('system-stream:subscriber')).filter((conn) => conn.sub > 0);
    const node = cluster.nodes.find((n) => n.port === subscriber?.port);
    if (!node) throw new Error('subscriber node not found');

    const killedAt = performance.now();
    await node.kill('SIGKILL');
    disposers.add(() => restart(node));
    await c.waitFor(is503, 1000);
    const noticedMs = performance.now() - killedAt;
    await c.waitFor(is200, 10_000);
    const restoredMs = performance.now() - killedAt;
    await c.waitFor((p) => p.type === 'system_metric', 3000, c.packets.findIndex(is200));
    const dataMs = performance.now() - killedAt;
    await load.stop();
    expect(restoredMs).toBeLessThan(3000);
    console.info(
      `classic, subscriber node killed: 503 after ${noticedMs.toFixed(0)} ms, 200 after ${restoredMs.toFixed(0)} ms, data after ${dataMs.toFixed(0)} ms`,
    );
  });
});
