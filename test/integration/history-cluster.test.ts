// The history stream's key naming in a real Redis Cluster (3 masters, no replicas): with sharded Pub/Sub
// the publish script may only touch one slot, and `historyStreamKey(channel)` puts the stream in the
// channel's slot without renaming the channel. A stream key on another node is refused (by the helper,
// before Redis would refuse it halfway).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyStreamKey, PUBLISH_WITH_HISTORY_LUA, publishWithHistory, unstamp } from '../../src/redis/history-script.js';
import { freePort } from '../helpers/redis.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Three free ports whose cluster bus ports (port + 10000) are free too. */
async function clusterPorts(): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < 50 && ports.length < 3; i++) {
    const port = await freePort();
    if (port + 10_000 > 65_535 || ports.includes(port)) continue;
    const bus = await new Promise<boolean>((resolve) => {
      const probe = new Redis({ port: port + 10_000, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => {});
      probe.connect().then(
        () => {
          probe.disconnect();
          resolve(false);
        },
        () => resolve(true),
      );
    });
    if (bus) ports.push(port);
  }
  if (ports.length < 3) throw new Error('no free ports for a cluster');
  return ports;
}

describe('history stream in a Redis Cluster with sharded Pub/Sub', () => {
  const nodes: ChildProcess[] = [];
  let dir = '';
  let ports: number[] = [];
  let cluster: Cluster | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sst-cluster-'));
    ports = await clusterPorts();
    for (const port of ports) {
      const node = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '1000',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--protected-mode',
          'no',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      nodes.push(node);
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`cluster node ${port} did not start: ${out}`)), 10_000);
        node.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        });
        node.once('exit', (code) => reject(new Error(`cluster node exited with ${code}: ${out}`)));
      });
    }
    await new Promise<void>((resolve, reject) =>
      execFile(
        'redis-cli',
        ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
        (err, stdout, stderr) => (err ? reject(new Error(`cluster create failed: ${stdout}${stderr}`)) : resolve()),
      ),
    );
    // Every node must agree before a client relies on its slot map.
    for (let i = 0; i < 100; i++) {
      const states = await Promise.all(
        ports.map(async (port) => {
          const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
          c.on('error', () => {});
          try {
            return /cluster_state:ok/.test(String(await c.call('CLUSTER', 'INFO')));
          } finally {
            c.disconnect();
          }
        }),
      );
      if (states.every(Boolean)) break;
      await sleep(100);
    }
    cluster = new Cluster([{ host: '127.0.0.1', port: ports[0] as number }], {
      shardedSubscribers: true,
      redisOptions: { maxRetriesPerRequest: 1 },
    });
    cluster.on('error', () => {});
    await new Promise<void>((resolve) => cluster!.once('ready', () => resolve()));
  }, 60_000);

  afterAll(async () => {
    cluster?.disconnect();
    for (const node of nodes) {
      if (node.exitCode !== null) continue;
      const exited = once(node, 'exit');
      node.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the publish script with SPUBLISH when the stream is historyStreamKey(channel), and a sharded subscriber gets the stamped message', async () => {
    const channel = 'system:metrics'; // the default channel, unchanged
    const streamKey = historyStreamKey(channel);
    expect(streamKey).toBe('{system:metrics}:history');
    const [channelSlot, streamSlot] = (await Promise.all([
      cluster!.call('CLUSTER', 'KEYSLOT', channel),
      cluster!.call('CLUSTER', 'KEYSLOT', streamKey),
    ])) as number[];
    expect(streamSlot).toBe(channelSlot);

    const received: Buffer[] = [];
    cluster!.on('smessageBuffer', (_channel: Buffer, message: Buffer) => void received.push(message));
    await cluster!.ssubscribe(channel);
    const message = JSON.stringify({
      type: 'system_metric',
      data: { time: new Date().toISOString(), metric_type: 'cpu', value: 1, source: 'host' },
    });
    const receivers = await publishWithHistory(cluster as never, { channel, streamKey, maxLen: 100, command: 'SPUBLISH' }, message);
    expect(receivers).toBe(1);
    for (let i = 0; i < 100 && received.length === 0; i++) await sleep(10);
    const { id, payload } = unstamp(received[0] as Buffer);
    expect(payload.toString()).toBe(message);
    // The entry the stamp names is in the stream, read through the Cluster client as the server reads it.
    const entries = (await cluster!.xrange(streamKey, '-', '+')) as [string, string[]][];
    expect(entries).toEqual([[id, ['m', message]]]);
  });

  it('is refused by Redis, with nothing published or added, when the stream key lives on another node', async () => {
    const channel = 'system:metrics';
    // Redis 7.0 checks that the script's keys and shard channel are served by the node it runs on; pick a
    // name without the channel's hash tag that another master serves.
    const slots = (await cluster!.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const ownerOf = (slot: number): number => slots.find(([from, to]) => slot >= from && slot <= to)?.[2][1] as number;
    const channelOwner = ownerOf((await cluster!.call('CLUSTER', 'KEYSLOT', channel)) as number);
    let elsewhere = '';
    for (let i = 0; i < 100 && elsewhere === ''; i++) {
      const candidate = `system:metrics:history:${i}`;
      if (ownerOf((await cluster!.call('CLUSTER', 'KEYSLOT', candidate)) as number) !== channelOwner) elsewhere = candidate;
    }
    expect(elsewhere).not.toBe('');
    // The helper refuses before sending anything...
    await expect(
      publishWithHistory(cluster as never, { channel, streamKey: elsewhere, maxLen: 100, command: 'SPUBLISH' }, '{}'),
    ).rejects.toThrow(/not in the Cluster slot of the shard channel/);
    expect(await cluster!.exists(elsewhere)).toBe(0);
    // ...because Redis refuses only at the SPUBLISH, after the XADD, which a script does not roll back.
    await expect(cluster!.eval(PUBLISH_WITH_HISTORY_LUA, 1, elsewhere, channel, '{}', 100, 'SPUBLISH')).rejects.toThrow(/non local|slot/i);
    expect(await cluster!.xlen(elsewhere)).toBe(1);
  });

  it('with classic PUBLISH (not sharded) any stream key works: the channel is not a key', async () => {
    const streamKey = 'plain-channel:history';
    const receivers = await publishWithHistory(cluster as never, { channel: 'plain-channel', streamKey, maxLen: 100 }, '{}');
    expect(receivers).toBe(0);
    expect(await cluster!.xlen(streamKey)).toBe(1);
  });
});
