// A private Redis Sentinel setup for topology tests: a primary, one replica and 3 Sentinels
// (`redis-server sentinel.conf --sentinel`) watching it as `mymaster` with quorum 2,
// `down-after-milliseconds 1000` and `failover-timeout 5000`, on free ports, in a temp dir that `stop()`
// removes. A test may kill the primary by PID; the Sentinels then promote the replica.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { command, freePorts, pollUntil, redisProcess, type RedisProcess } from './redis-process.js';

export const SENTINEL_GROUP = 'mymaster';

export interface TestSentinels {
  /** The data nodes: `[primary, replica]` as started (after a failover the roles are swapped). */
  readonly servers: readonly RedisProcess[];
  readonly sentinels: readonly RedisProcess[];
  /** `[{ host, port }]` of the three Sentinels, as ioredis takes them. */
  readonly sentinelAddresses: readonly { host: string; port: number }[];
  /** Processes up, then every Sentinel knowing the replica and the two other Sentinels. */
  readonly timings: { readonly processesMs: number; readonly readyMs: number };
  /** A Sentinel-mode ioredis client for `mymaster` (closed by `stop()`), with `options` on top. */
  client(options?: RedisOptions): Redis;
  /** The data node the Sentinels name as primary now. */
  primary(): Promise<RedisProcess>;
  /** Waits until every running Sentinel names a primary other than `oldPort`, and it says it is a master. */
  waitForNewPrimary(oldPort: number, timeoutMs?: number): Promise<RedisProcess>;
  stop(): Promise<void>;
}

export async function startSentinels(): Promise<TestSentinels> {
  const dir = mkdtempSync(join(tmpdir(), 'sst-sentinel-'));
  // Removed by stop(), or when the test process exits without calling it.
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  const clients: Redis[] = [];
  const started = performance.now();
  const [primaryPort, replicaPort, ...sentinelPorts] = (await freePorts(5)) as [number, number, number, number, number];
  const dataArgs = ['--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', dir];
  const primary = redisProcess({ port: primaryPort, args: dataArgs });
  const replica = redisProcess({ port: replicaPort, args: [...dataArgs, '--replicaof', '127.0.0.1', String(primaryPort)] });
  const sentinels = sentinelPorts.map((port) => {
    // Each Sentinel rewrites its own config file (it records the other Sentinels and the replicas there).
    const configFile = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      configFile,
      [
        `sentinel monitor ${SENTINEL_GROUP} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_GROUP} 1000`,
        `sentinel failover-timeout ${SENTINEL_GROUP} 5000`,
        `sentinel parallel-syncs ${SENTINEL_GROUP} 1`,
        'protected-mode no',
        `dir ${dir}`,
        '',
      ].join('\n'),
    );
    return redisProcess({ port, configFile, args: ['--sentinel'], readyLine: '+monitor master' });
  });
  const servers = [primary, replica];
  const stop = async (): Promise<void> => {
    for (const client of clients.splice(0)) client.disconnect();
    await Promise.all([...sentinels, ...servers].map((p) => p.kill('SIGKILL')));
    removeDir();
    process.off('exit', removeDir);
  };

  try {
    await primary.start();
    await Promise.all([replica.start(), ...sentinels.map((s) => s.start())]);
    const processesMs = performance.now() - started;
    const masterState = async (sentinel: RedisProcess): Promise<Record<string, string>> => {
      const flat = (await command(sentinel.port, 'SENTINEL', 'MASTER', SENTINEL_GROUP)) as string[];
      const state: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) state[String(flat[i])] = String(flat[i + 1]);
      return state;
    };
    await pollUntil(
      'every Sentinel to know the replica and the other two Sentinels',
      async () => {
        const states = await Promise.all(sentinels.map(masterState));
        const link = String(await command(replicaPort, 'INFO', 'replication'));
        const ok =
          states.every((s) => s['num-slaves'] === '1' && s['num-other-sentinels'] === '2') && link.includes('master_link_status:up');
        return ok ? true : undefined;
      },
      30_000,
    );
    const readyMs = performance.now() - started;

    const byPort = (port: number): RedisProcess => {
      const server = servers.find((s) => s.port === port);
      if (!server) throw new Error(`no data node on port ${port}`);
      return server;
    };
    const namedPrimary = async (sentinel: RedisProcess): Promise<number> => {
      const [, port] = (await command(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_GROUP)) as [string, string];
      return Number(port);
    };

    return {
      servers,
      sentinels,
      sentinelAddresses: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      timings: { processesMs, readyMs },
      client(options = {}) {
        const client = new Redis({
          sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
          name: SENTINEL_GROUP,
          maxRetriesPerRequest: 1,
          ...options,
        });
        client.on('error', () => {});
        clients.push(client);
        return client;
      },
      async primary() {
        return byPort(await namedPrimary(sentinels.find((s) => s.isRunning) ?? sentinels[0]!));
      },
      async waitForNewPrimary(oldPort, timeoutMs = 20_000) {
        const port = await pollUntil(
          'the Sentinels to switch to a new primary',
          async () => {
            const named = await Promise.all(sentinels.filter((s) => s.isRunning).map(namedPrimary));
            const [first] = named;
            if (first === undefined || first === oldPort || !named.every((p) => p === first)) return undefined;
            const role = String(await command(first, 'INFO', 'replication'));
            return role.includes('role:master') ? first : undefined;
          },
          timeoutMs,
          50,
        );
        return byPort(port);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
