import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A free TCP port on 127.0.0.1 (the OS picks it; we release it and hand it out). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** One entry of `ACL LOG`: a refused command or channel, with how often it was refused. */
export interface AclLogEntry {
  readonly count: number;
  /** `command` or `channel`. */
  readonly reason: string;
  /** The command (e.g. `ping`) or the channel refused. */
  readonly object: string;
  readonly username: string;
}

/** A private redis-server on a free port, which a test may kill, pause and restart. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** A unique channel name for one test. */
  channel(): string;
  /** A publisher connection (the `default` user, allowed everything), closed by `stop()`. */
  publisher(): Redis;
  /** `redis://name:password@127.0.0.1:PORT`. */
  userUrl(name: string, password: string): string;
  /** `ACL SETUSER name ...rules`, e.g. `setUser('sub', 'on', '>pw', 'resetchannels', '&ch', '-@all', '+subscribe')`. */
  setUser(name: string, ...rules: string[]): Promise<void>;
  /** `ACL LOG`: what Redis refused, newest first. */
  aclLog(): Promise<AclLogEntry[]>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port, with `args` (default: those of `startRedis`), e.g. `--user` lines. */
  start(args?: readonly string[]): Promise<void>;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Extra redis-server arguments, e.g. `['--user', 'sub', 'on', '>pw', '&ch', '+subscribe']`. */
  readonly args?: readonly string[];
  /** `false` picks the port but starts nothing until `start()`: a Redis that is not there yet. */
  readonly started?: boolean;
}

export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  let admin: Redis | undefined;
  const clients: Redis[] = [];

  const start = async (args: readonly string[] = options.args ?? []): Promise<void> => {
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}: ${out}`)), 10_000);
      proc.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(err.code === 'ENOENT' ? new Error('redis-server is not installed: run .ci/run or `apt-get install redis-server`') : err);
      });
      proc.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${out}`));
      });
    });
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    await exited;
    child = null;
  };

  const publisher = (): Redis => {
    const client = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };

  if (options.started !== false) await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    channel: () => `test:${randomUUID()}:metrics`,
    publisher,
    userUrl: (name, password) => `redis://${name}:${password}@127.0.0.1:${port}`,
    async setUser(name, ...rules) {
      admin ??= publisher();
      await admin.call('ACL', 'SETUSER', name, ...rules);
    },
    async aclLog() {
      admin ??= publisher();
      const entries = (await admin.call('ACL', 'LOG')) as unknown[][];
      return entries.map((flat) => {
        const entry: Record<string, unknown> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) entry[String(flat[i])] = flat[i + 1];
        return {
          count: Number(entry['count']),
          reason: String(entry['reason']),
          object: String(entry['object']),
          username: String(entry['username']),
        };
      });
    },
    kill,
    start,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async stop() {
      for (const client of clients) client.disconnect();
      child?.kill('SIGCONT');
      await kill('SIGKILL');
    },
  };
}
