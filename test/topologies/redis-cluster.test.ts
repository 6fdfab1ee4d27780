// The stream and the publisher on a real Redis Cluster (3 masters, 3 replicas): a host's ioredis Cluster
// as `redis`, classic Pub/Sub across nodes, sharded Pub/Sub, a list of channels spread over the shards,
// and a health check that watches the subscriber's own node.
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { attachSystemStream } from '../../src/server/attach.js';
import { createSystemPublisher } from '../../src/publisher/publisher.js';
import type { ServerPacket } from '../../src/protocol/wire.js';
import { keySlot } from '../../src/redis/key-slot.js';
import { failOnProcessCrash } from '../helpers/crash-guard.js';
import { createDisposers } from '../helpers/disposers.js';
import { metric } from '../helpers/fixtures.js';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.js';
import { command } from '../helpers/redis-process.js';
import { startReadyServer, type startServer, type TestServer } from '../helpers/server.js';
import { connectOpen, type TestClient, is200, is503 } from '../helpers/ws-client.js';

const valueIs = (value: number) => (p: ServerPacket) => p.type === 'system_metric' && p.data.value === value;

let cluster: TestCluster;
const disposers = createDisposers();
beforeAll(async () => {
  cluster = await startCluster();
  console.info(`cluster formed: ${JSON.stringify(cluster.timings)}`);
});
afterEach(() => disposers.runAll());
afterAll(async () => {
  await cluster?.stop();
});
failOnProcessCrash();

const serve = (options: Parameters<typeof startServer>[0]): Promise<TestServer> => startReadyServer(disposers, options);

async function client(server: TestServer): Promise<TestClient> {
  const c = await connectOpen(server.wsUrl());
  disposers.add(() => c.close());
  return c;
}

/** Publishes with `send` until `c` receives `value` (a fresh subscription may miss the first): at most 50 tries. */
async function deliver(send: (json: string) => Promise<unknown>, c: TestClient, value: number): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    await send(JSON.stringify(metric('probe', value))).catch(() => 0);
    if (
      await c.waitFor(valueIs(value), 100).then(
        () => true,
        () => false,
      )
    )
      return;
  }
  throw new Error(`value ${value} never arrived`);
}

describe('attachSystemStream on a Redis Cluster', () => {
  it("duplicates the host's Cluster with its settings and the subscriber's: connection name, retry, offline queue, ACL user", async () => {
    const password = randomUUID();
    for (const node of cluster.nodes) await command(node.port, 'ACL', 'SETUSER', 'streamer', 'on', `>${password}`, 'allchannels', '+@all');
    const host = cluster.client({ redisOptions: { username: 'streamer', password } });
    let copy: Cluster | undefined;
    const duplicate = host.duplicate.bind(host);
    host.duplicate = ((...args: Parameters<Cluster['duplicate']>) => (copy = duplicate(...args))) as Cluster['duplicate'];
    const channel = `topo:${randomUUID()}`;
    const s = await serve({ redis: host, channel });

    expect(copy).toBeInstanceOf(Cluster);
    expect(copy).not.toBe(host);
    expect(copy?.options.enableOfflineQueue).toBe(true);
    expect(copy?.options.clusterRetryStrategy?.(10, new Error('down'))).toBe(500);
    expect(copy?.options.redisOptions).toMatchObject({
      username: 'streamer',
      password,
      connectionName: 'system-stream:subscriber',
      maxRetriesPerRequest: null,
      autoResubscribe: false,
    });
    // On the nodes: the subscription lives on one connection, named after the role, as the host's user.
    const subscribers = (await cluster.connectionsNamed('system-stream:subscriber')).filter((c) => c.sub > 0);
    expect(subscribers).toEqual([
      { port: expect.any(Number), name: 'ioredis-cluster(subscriber):system-stream:subscriber', user: 'streamer', sub: 1, ssub: 0 },
    ]);
    // The host's client is left as it was.
    expect(host.options.redisOptions?.connectionName).toBeUndefined();
    expect(host.status).not.toBe('end');
    await s.close();
    expect(host.status).toBe('ready');
  });

  it('receives classic PUBLISHes sent to every node, masters and replicas alike', async () => {
    const channel = `topo:${randomUUID()}`;
    const s = await serve({ redis: cluster.client(), channel });
    const c = await client(s);
    await deliver((json) => cluster.client().publish(channel, json), c, 0);
    for (const [i, node] of cluster.nodes.entries()) {
      const direct = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true });
      direct.on('error', () => {});
      disposers.add(() => direct.disconnect());
      await direct.publish(channel, JSON.stringify(metric('per-node', i + 1)));
    }
    for (let i = 1; i <= cluster.nodes.length; i++) await c.waitFor(valueIs(i), 2000);
    expect(c.packets.filter((p) => p.type === 'system_metric' && p.data.metric_type === 'per-node')).toHaveLength(cluster.nodes.length);
  });

  it('with sharded: true, SSUBSCRIBEs and receives what a sharded publisher SPUBLISHes, never classic PUBLISH', async () => {
    const channel = `topo:${randomUUID()}`;
    const s = await serve({ redis: cluster.client({ shardedSubscribers: true }), channel, sharded: true });
    const c = await client(s);
    const publisher = createSystemPublisher({ redis: cluster.client(), channel, sharded: true });
    disposers.add(() => publisher.close());
    await publisher.ready;
    await deliver((json) => cluster.client().spublish(channel, json), c, 0);

    // The subscription is on the master that owns the channel's slot, and only there.
    const owner = await cluster.masterOfSlot(keySlot(channel));
    expect(await cluster.slotOf(channel)).toBe(keySlot(channel));
    const [, count] = (await command(owner.port, 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    expect(count).toBe(1);
    const sharded = (await cluster.connectionsNamed('system-stream:subscriber')).filter((conn) => conn.ssub > 0);
    expect(sharded).toEqual([
      { port: owner.port, name: 'ioredis-cluster(ssubscriber):system-stream:subscriber', user: 'default', sub: 0, ssub: 1 },
    ]);

    expect(await publisher.publishMetric({ metric_type: 'cpu', value: 1, source: 'host' })).toBe(1);
    await c.waitFor(valueIs(1), 2000);
    // Classic PUBLISH on the same channel name is another channel as far as sharded subscribers go.
    expect(await cluster.client().publish(channel, JSON.stringify(metric('classic', 2)))).toBe(0);
    expect(await publisher.publishMetric({ metric_type: 'cpu', value: 3, source: 'host' })).toBe(1);
    await c.waitFor(valueIs(3), 2000);
    expect(c.packets.some(valueIs(2))).toBe(false);
  });

  it('refuses sharded: true with a Cluster created without shardedSubscribers, naming the fix', () => {
    const host = cluster.client();
    const server = { on() {}, listenerCount: () => 0 } as never;
    expect(() => attachSystemStream(server, { redis: host, sharded: true, auth: false })).toThrow(
      expect.objectContaining({ code: 'SST_ERR_INVALID_OPTION', message: expect.stringContaining('shardedSubscribers: true') }),
    );
  });

  it('subscribes to a list of channels on three shards, one SSUBSCRIBE each, and serves them as one stream', async () => {
    const topology = await cluster.topology();
    const masters = await Promise.all(
      topology.filter((n) => n.role === 'master' && !n.isFailed).map((n) => cluster.nodes.find((p) => p.port === n.port)!),
    );
    expect(masters).toHaveLength(3);
    const prefix = `topo:${randomUUID()}:group`;
    const channels = await Promise.all(masters.map((m, i) => cluster.channelOn(m, `${prefix}${i}-`)));
    expect(new Set(channels.map(keySlot)).size).toBe(3);

    const s = await serve({ redis: cluster.client({ shardedSubscribers: true }), channel: channels, sharded: true });
    const c = await client(s);
    const publishers = channels.map((channel) => {
      const p = createSystemPublisher({ redis: cluster.client(), channel, sharded: true });
      disposers.add(() => p.close());
      return p;
    });
    await deliver((json) => cluster.client().spublish(channels[0]!, json), c, 0);
    for (const [i, p] of publishers.entries()) await p.publishMetric({ metric_type: 'cpu', value: 10 + i, source: `group-${i}` });
    for (let i = 0; i < channels.length; i++) await c.waitFor(valueIs(10 + i), 2000);
    for (const [i, master] of masters.entries()) {
      const [, count] = (await command(master.port, 'PUBSUB', 'SHARDNUMSUB', channels[i]!)) as [string, number];
      expect(count).toBe(1);
    }
    // One sharded subscriber connection per shard, each holding one channel.
    const connections = (await cluster.connectionsNamed('system-stream:subscriber')).filter((conn) => conn.ssub > 0);
    expect(connections.map((conn) => conn.ssub)).toEqual([1, 1, 1]);
    expect(new Set(connections.map((conn) => conn.port))).toEqual(new Set(masters.map((m) => m.port)));
  });

  it("health-checks the subscriber's own node: a hung one (SIGSTOP) gives 503, then 200 and data through another node", async () => {
    const channel = `topo:${randomUUID()}`;
    const s = await serve({ redis: cluster.client(), channel, redisHealthCheckMs: 300 });
    const c = await client(s);
    const [subscriber] = (await cluster.connectionsNamed('system-stream:subscriber')).filter((conn) => conn.sub > 0);
    const hung = cluster.nodes.find((n) => n.port === subscriber?.port);
    if (!hung?.pid) throw new Error('subscriber node not found');
    // Publish on another node (classic PUBLISH reaches every node from any): a Cluster client could pick the
    // hung one, and a command to it waits until SIGCONT.
    const pub = new Redis({ host: '127.0.0.1', port: cluster.nodes.find((n) => n !== hung)!.port, commandTimeout: 1000 });
    pub.on('error', () => {});
    disposers.add(() => pub.disconnect());
    await deliver((json) => pub.publish(channel, json), c, 0);

    const stoppedAt = performance.now();
    process.kill(hung.pid, 'SIGSTOP');
    disposers.add(async () => {
      if (hung.pid) process.kill(hung.pid, 'SIGCONT');
      await cluster.waitForStateOk();
    });
    await c.waitFor(is503, 3000);
    const noticedMs = performance.now() - stoppedAt;
    // A PING unanswered for one interval (300 ms), checked every interval: noticed within two.
    expect(noticedMs).toBeLessThan(1000);
    await c.waitFor(is200, 15_000);
    const restoredMs = performance.now() - stoppedAt;
    await deliver((json) => pub.publish(channel, json), c, 1);
    const now = (await cluster.connectionsNamed('system-stream:subscriber')).filter((conn) => conn.sub > 0);
    expect(now.map((conn) => conn.port)).not.toContain(hung.port);
    console.info(`hung subscriber node: 503 after ${noticedMs.toFixed(0)} ms, 200 after ${restoredMs.toFixed(0)} ms`);
  });
});
