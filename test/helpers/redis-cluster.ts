// A private Redis Cluster for topology tests: 6 redis-server processes (3 masters, 3 replicas) on free
// ports (each bus port, port + 10000, free too), formed with `redis-cli --cluster create`, in a temp dir
// that `stop()` removes. A test may kill any node by PID and start it again on the same port (it rejoins
// from its nodes.conf, as a replica of whoever took its slots over).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type ClusterOptions } from 'ioredis';
import { command, freePorts, pollUntil, redisProcess, type RedisProcess } from './redis-process.js';

export interface ClusterNodeInfo {
  readonly port: number;
  readonly id: string;
  readonly role: 'master' | 'replica';
  /** For a replica: the id of its master. */
  readonly masterId: string | undefined;
  readonly isFailed: boolean;
  /** Slot ranges served, for a master: `[[0, 5460]]`. */
  readonly slots: readonly (readonly [number, number])[];
}

/** One line of `CLIENT LIST`, with the node it was read on. */
export interface ClientInfo {
  readonly port: number;
  readonly name: string;
  readonly user: string;
  /** Classic channels it is subscribed to. */
  readonly sub: number;
  /** Sharded channels it is subscribed to. */
  readonly ssub: number;
}

export interface TestCluster {
  readonly nodes: readonly RedisProcess[];
  readonly startupNodes: readonly { host: string; port: number }[];
  /** How long formation took: processes up, `create` done, every node `cluster_state:ok`, replicas synced. */
  readonly timings: { readonly processesMs: number; readonly createMs: number; readonly stateOkMs: number; readonly syncedMs: number };
  /** A Cluster client (closed by `stop()`), with `options` on top of test defaults. */
  client(options?: ClusterOptions): Cluster;
  /** `CLUSTER NODES` as seen by a running node. */
  topology(): Promise<ClusterNodeInfo[]>;
  /** The process of the master currently serving `slot`, per the running nodes. */
  masterOfSlot(slot: number): Promise<RedisProcess>;
  /** The slot a channel (or key) hashes to, as Redis computes it (`CLUSTER KEYSLOT`). */
  slotOf(channel: string): Promise<number>;
  /** Waits until a running master other than `port` serves `slot` and every running node agrees; returns it. */
  waitForNewMaster(slot: number, oldPort: number, timeoutMs?: number): Promise<RedisProcess>;
  /** Waits until every running node reports `cluster_state:ok`. */
  waitForStateOk(timeoutMs?: number): Promise<void>;
  /** Connections on the running nodes whose name contains `name` (from `CLIENT LIST`). */
  connectionsNamed(name: string): Promise<ClientInfo[]>;
  /** A channel name that hashes to a slot served by `master` (found by trying `prefix{n}` names). */
  channelOn(master: RedisProcess, prefix: string): Promise<string>;
  stop(): Promise<void>;
}

/** Arguments of each node: `cluster-node-timeout` 1000 ms, as REFERENCE.md G measured (promotion in ~2 s). */
function nodeArgs(dir: string, port: number, nodeTimeoutMs: number): string[] {
  return [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout',
    String(nodeTimeoutMs),
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
  ];
}

function parseNodes(text: string): ClusterNodeInfo[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.split(' ');
      const port = Number(address.split('@')[0]?.split(':')[1]);
      const flagList = flags.split(',');
      return {
        id,
        port,
        role: flagList.includes('master') ? 'master' : 'replica',
        masterId: master === '-' ? undefined : master,
        isFailed: flagList.includes('fail') || flagList.includes('fail?'),
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [from, to = from] = s.split('-').map(Number);
            return [from as number, to as number] as const;
          }),
      } satisfies ClusterNodeInfo;
    });
}

export interface StartClusterOptions {
  readonly nodeTimeoutMs?: number;
}

export async function startCluster({ nodeTimeoutMs = 1000 }: StartClusterOptions = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sst-cluster-'));
  // Removed by stop(), or when the test process exits without calling it.
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  const clients: Cluster[] = [];
  const started = performance.now();
  const ports = await freePorts(6, { withBus: true });
  const nodes = ports.map((port) => redisProcess({ port, args: nodeArgs(dir, port, nodeTimeoutMs) }));
  const stop = async (): Promise<void> => {
    for (const client of clients.splice(0)) client.disconnect();
    for (const node of nodes) node.closeClients();
    await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
    removeDir();
    process.off('exit', removeDir);
  };

  try {
    await Promise.all(nodes.map((node) => node.start()));
    const processesMs = performance.now() - started;
    await createCluster(ports);
    const createMs = performance.now() - started;
    const running = (): RedisProcess[] => nodes.filter((n) => n.isRunning);

    const topology = async (): Promise<ClusterNodeInfo[]> => {
      for (const node of running()) {
        try {
          return parseNodes(String(await command(node.port, 'CLUSTER', 'NODES')));
        } catch {
          // try the next node
        }
      }
      throw new Error('no cluster node answers');
    };
    const waitForStateOk = (timeoutMs = 20_000): Promise<void> =>
      pollUntil(
        'cluster_state:ok on every running node',
        async () => {
          const infos = await Promise.all(
            running().map((n) => command(n.port, 'CLUSTER', 'INFO').then(String, (err: Error) => `error: ${err.message}`)),
          );
          const notOk = running().filter((_, i) => !infos[i]?.includes('cluster_state:ok'));
          if (notOk.length > 0)
            throw new Error(
              `not ok on ${notOk.map((n) => n.port).join(', ')}: ${infos.find((i) => !i.includes('cluster_state:ok'))?.slice(0, 200)}`,
            );
          return true;
        },
        timeoutMs,
      ).then(() => undefined);

    await waitForStateOk();
    const stateOkMs = performance.now() - started;
    // CLUSTER SLOTS leaves out a replica until its first sync is done (REFERENCE.md G): wait on CLUSTER
    // NODES for 3 masters and 3 replicas, and on each replica's own link status.
    await pollUntil(
      'three masters with one synced replica each',
      async () => {
        const known = await topology();
        const masters = known.filter((n) => n.role === 'master' && !n.isFailed);
        const replicas = known.filter((n) => n.role === 'replica' && !n.isFailed);
        if (masters.length !== 3 || replicas.length !== 3) return undefined;
        const links = await Promise.all(replicas.map((r) => command(r.port, 'INFO', 'replication')));
        return links.every((info) => String(info).includes('master_link_status:up')) ? true : undefined;
      },
      30_000,
    );
    const syncedMs = performance.now() - started;

    const byPort = (port: number): RedisProcess => {
      const node = nodes.find((n) => n.port === port);
      if (!node) throw new Error(`no node on port ${port}`);
      return node;
    };
    const masterOfSlot = async (slot: number): Promise<RedisProcess> => {
      const master = (await topology()).find((n) => n.role === 'master' && !n.isFailed && n.slots.some(([a, b]) => slot >= a && slot <= b));
      if (!master) throw new Error(`no master serves slot ${slot}`);
      return byPort(master.port);
    };

    return {
      nodes,
      startupNodes: ports.map((port) => ({ host: '127.0.0.1', port })),
      timings: { processesMs, createMs, stateOkMs, syncedMs },
      client(options = {}) {
        const client = new Cluster(
          ports.map((port) => ({ host: '127.0.0.1', port })),
          { ...options, redisOptions: { maxRetriesPerRequest: 1, ...options.redisOptions } },
        );
        client.on('error', () => {});
        clients.push(client);
        return client;
      },
      topology,
      masterOfSlot,
      slotOf: async (channel) => Number(await command(running()[0]?.port ?? ports[0]!, 'CLUSTER', 'KEYSLOT', channel)),
      async waitForNewMaster(slot, oldPort, timeoutMs = 15_000) {
        const port = await pollUntil(
          `a new master for slot ${slot}`,
          async () => {
            const views = await Promise.all(running().map((n) => command(n.port, 'CLUSTER', 'NODES').then((t) => parseNodes(String(t)))));
            const owners = views.map(
              (view) => view.find((n) => n.role === 'master' && !n.isFailed && n.slots.some(([a, b]) => slot >= a && slot <= b))?.port,
            );
            const [first] = owners;
            return first !== undefined && first !== oldPort && owners.every((p) => p === first) ? first : undefined;
          },
          timeoutMs,
          50,
        );
        return byPort(port);
      },
      waitForStateOk,
      async connectionsNamed(name) {
        const found: ClientInfo[] = [];
        for (const node of running()) {
          const list = String(await command(node.port, 'CLIENT', 'LIST').catch(() => ''));
          for (const line of list.split('\n')) {
            const fields = Object.fromEntries(
              line
                .trim()
                .split(' ')
                .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
            );
            if (!fields['name']?.includes(name)) continue;
            found.push({
              port: node.port,
              name: fields['name'],
              user: fields['user'] ?? '',
              sub: Number(fields['sub'] ?? 0),
              ssub: Number(fields['ssub'] ?? 0),
            });
          }
        }
        return found;
      },
      async channelOn(master, prefix) {
        const masterInfo = (await topology()).find((n) => n.port === master.port);
        if (!masterInfo) throw new Error(`node ${master.port} is not in the cluster`);
        for (let n = 0; n < 200; n++) {
          const channel = `${prefix}${n}`;
          const slot = Number(await command(master.port, 'CLUSTER', 'KEYSLOT', channel));
          if (masterInfo.slots.some(([a, b]) => slot >= a && slot <= b)) return channel;
        }
        throw new Error(`no channel ${prefix}N hashes to node ${master.port}`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes`, bounded by 30 s. */
function createCluster(ports: readonly number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    proc.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => void (out += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`redis-cli --cluster create timed out: ${out.slice(-2000)}`));
    }, 30_000);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 && out.includes('[OK] All 16384 slots covered')) resolve();
      else reject(new Error(`redis-cli --cluster create exited with ${code}: ${out.slice(-2000)}`));
    });
  });
}
