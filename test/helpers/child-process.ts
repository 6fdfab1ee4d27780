// A TypeScript file run as a child process (Node 20 has no type stripping: the soak's esbuild loader
// transforms it), started and stopped by PID, with its stdout watched for a line.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const LOADER = fileURLToPath(new URL('../soak/register.mjs', import.meta.url));

export interface TsProcess {
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in its output (now or later); rejects after `timeoutMs` or when it exits. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` to its PID and waits for it to exit (SIGKILL after 5 s). */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runTs(file: string | URL, env: Record<string, string>, args: readonly string[] = []): TsProcess {
  const child = spawn(process.execPath, ['--import', LOADER, typeof file === 'string' ? file : fileURLToPath(file), ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const wakers = new Set<() => void>();
  const append = (chunk: Buffer): void => {
    if (out.length < 1_000_000) out += chunk.toString();
    for (const wake of wakers) wake();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  child.on('exit', () => {
    for (const wake of wakers) wake();
  });
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => out,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const wake = (): void => {
          const match = pattern.exec(out);
          if (match) {
            done();
            resolve(match);
          } else if (exited()) {
            done();
            reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${pattern}: ${out.slice(-2000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}: ${out.slice(-2000)}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          wakers.delete(wake);
        };
        wakers.add(wake);
        wake();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (!exited()) {
        const exit = once(child, 'exit');
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(timer);
      }
      return { code: child.exitCode, signal: child.signalCode };
    },
  };
}
