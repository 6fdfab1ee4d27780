// One redis-server process (a cluster node, a primary, a replica or a Sentinel) that a topology test
// may kill with SIGKILL and start again on the same port, by its own PID. Used by redis-cluster.ts and
// redis-sentinel.ts; every process is started on 127.0.0.1 only.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** Whether `port` can be bound on 127.0.0.1 now. */
async function isPortFree(port: number): Promise<boolean> {
  const server = createServer();
  const free = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (free) await new Promise<void>((resolve) => server.close(() => resolve()));
  return free;
}

/**
 * `count` distinct free ports on 127.0.0.1, each with `port + 10000` free too when `withBus` is set
 * (a cluster node's bus port). Picked by the OS, then checked; at most 200 tries.
 */
export async function freePorts(count: number, { withBus = false } = {}): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; attempt < 200 && ports.length < count; attempt++) {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (ports.includes(port) || (withBus && (port + 10_000 > 65_535 || ports.includes(port + 10_000)))) continue;
    if (withBus && !(await isPortFree(port + 10_000))) continue;
    ports.push(port);
  }
  if (ports.length < count) throw new Error(`found only ${ports.length} of ${count} free ports`);
  return ports;
}

// Every process started here, killed if the test process exits without stopping them (a crash, a
// timeout), so that no redis-server outlives the run.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A redis-server process on a fixed port. */
export interface RedisProcess {
  readonly port: number;
  /** The PID of the running process, or `undefined` while it is stopped. */
  readonly pid: number | undefined;
  readonly isRunning: boolean;
  /** Starts it (again) with the arguments it was created with; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Sends `signal` (default SIGKILL) to its PID and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** A connection to it, closed by {@link RedisProcess.kill}'s caller through `closeClients()`. */
  client(): Redis;
  closeClients(): void;
}

export interface RedisProcessOptions {
  readonly port: number;
  /** Arguments after the config file (if any): `--port` and `--bind` are added. */
  readonly args: readonly string[];
  /** A config file path passed first (Sentinel needs one it can rewrite). */
  readonly configFile?: string;
  /** Log line that means it is up. Default: `Ready to accept connections`. */
  readonly readyLine?: string;
  readonly startTimeoutMs?: number;
}

export function redisProcess(options: RedisProcessOptions): RedisProcess {
  const { port, args, configFile, readyLine = 'Ready to accept connections', startTimeoutMs = 10_000 } = options;
  let child: ChildProcess | null = null;
  const clients: Redis[] = [];
  const isRunning = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;

  return {
    port,
    get pid() {
      return isRunning() ? child?.pid : undefined;
    },
    get isRunning() {
      return isRunning();
    },
    async start() {
      if (isRunning()) return;
      const argv = [...(configFile ? [configFile] : []), '--port', String(port), '--bind', '127.0.0.1', ...args];
      const proc = spawn('redis-server', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      running.add(proc);
      proc.once('exit', () => running.delete(proc));
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(
          () => reject(new Error(`redis-server did not start on ${port} within ${startTimeoutMs} ms: ${out.slice(-2000)}`)),
          startTimeoutMs,
        );
        const onExit = (code: number | null): void => {
          clearTimeout(timer);
          reject(new Error(`redis-server on ${port} exited with ${code}: ${out.slice(-2000)}`));
        };
        proc.once('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(err.code === 'ENOENT' ? new Error('redis-server is not installed: run .ci/run or `apt-get install redis-server`') : err);
        });
        proc.stdout?.on('data', (chunk: Buffer) => {
          if (out.length < 100_000) out += chunk.toString();
          if (out.includes(readyLine)) {
            clearTimeout(timer);
            proc.off('exit', onExit);
            proc.stdout?.removeAllListeners('data');
            proc.stdout?.resume();
            resolve();
          }
        });
        proc.stderr?.on('data', (chunk: Buffer) => void (out += chunk.toString()));
        proc.once('exit', onExit);
      });
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      const proc = child;
      if (!proc || !isRunning()) return;
      const exited = once(proc, 'exit');
      if (signal !== 'SIGCONT') proc.kill('SIGCONT'); // a paused process must be able to take the signal
      proc.kill(signal);
      await exited;
    },
    client() {
      const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: false });
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    closeClients() {
      for (const client of clients.splice(0)) client.disconnect();
    },
  };
}

/**
 * Polls `check` every `everyMs` until it returns a value other than `undefined`, at most `timeoutMs`;
 * errors thrown by `check` count as "not yet". Rejects with `what` and the last error on timeout.
 */
export async function pollUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (let round = 0; round < Math.ceil(timeoutMs / everyMs) + 1; round++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
}

/** Runs one command on a short-lived connection to `port` (nothing left open). */
export async function command(port: number, ...args: (string | number)[]): Promise<unknown> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: true,
    connectTimeout: 1000,
    commandTimeout: 2000,
  });
  client.on('error', () => {});
  try {
    return await client.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    client.disconnect();
  }
}
