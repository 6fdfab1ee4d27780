import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { fsSize } from 'systeminformation';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol/wire.js';
import { startSentinel, type Sentinel } from '../../src/sentinel/sentinel.js';
import { container, startFakeDocker, type FakeDocker } from '../helpers/fake-docker.js';

// On Linux a sentinel tick starts no process: counted in this process by hooking every way
// child_process starts one (ChildProcess#spawn for spawn/exec/execFile/fork, the spawn_sync binding for
// the *Sync calls), and, where strace exists, for a whole sentinel process by the execve calls strace sees.
// Each count is first shown to see what systeminformation starts, so a zero is not a hook that misses.

const root = fileURLToPath(new URL('../../', import.meta.url));

interface SpawnCounter {
  count(): number;
  restore(): void;
}

function countSpawns(): SpawnCounter {
  const proto = ChildProcess.prototype as unknown as { spawn: (...args: unknown[]) => unknown };
  const spawnAsync = proto.spawn;
  // process.binding is deprecated but still the one door to the binding spawnSync/execSync go through.
  const binding = (process as unknown as { binding(name: 'spawn_sync'): { spawn: (...args: unknown[]) => unknown } }).binding('spawn_sync');
  const spawnSync = binding.spawn;
  let count = 0;
  proto.spawn = function (this: unknown, ...args: unknown[]) {
    count++;
    return spawnAsync.apply(this, args);
  };
  binding.spawn = function (this: unknown, ...args: unknown[]) {
    count++;
    return spawnSync.apply(this, args);
  };
  return {
    count: () => count,
    restore() {
      proto.spawn = spawnAsync;
      binding.spawn = spawnSync;
    },
  };
}

function hasStrace(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let docker: FakeDocker;
let counter: SpawnCounter | undefined;
let sentinel: Sentinel | undefined;

beforeAll(async () => {
  docker = await startFakeDocker([container('api', 'running'), container('nightly-backup', 'exited')]);
});
afterAll(async () => {
  await docker.dispose();
});
afterEach(async () => {
  counter?.restore();
  counter = undefined;
  await sentinel?.stop();
  sentinel = undefined;
});

describe.runIf(process.platform === 'linux')('a sentinel tick on Linux', () => {
  it('the spawn hook sees the processes systeminformation starts (so that a zero below means none)', async () => {
    counter = countSpawns();
    await fsSize(); // df, and cat /proc/mounts
    expect(counter.count()).toBeGreaterThan(0);
  });

  it('starts no child process: 8 ticks of the default sampler, with containers and host metrics', async () => {
    counter = countSpawns();
    const batches: Envelope[][] = [];
    let done!: () => void;
    const eightTicks = new Promise<void>((resolve) => (done = resolve));
    sentinel = startSentinel({
      source: 'web-1',
      intervalMs: 100,
      dockerSocket: docker.socketPath,
      publisher: {
        async publish(batch) {
          batches.push(Array.isArray(batch) ? [...(batch as readonly Envelope[])] : [batch as Envelope]);
          if (batches.length === 8) done();
          return 1;
        },
      },
    });
    await eightTicks;
    expect(counter.count()).toBe(0);
    const types = new Set(batches.flat().map((e) => (e.type === 'system_metric' ? e.data.metric_type : e.type)));
    for (const t of ['cpu', 'memory', 'load', 'disk', 'net_rx', 'net_tx', 'container_status']) expect(types).toContain(t);
  });
});

describe.runIf(process.platform === 'linux' && hasStrace())('a sentinel process under strace', () => {
  const outDir = `${root}node_modules/.cache/system-stream-test/no-spawn-${randomUUID()}`;
  const script = `${outDir}/ticks.mjs`;

  beforeAll(async () => {
    mkdirSync(outDir, { recursive: true });
    // Bundled here rather than run through a TypeScript loader: esbuild's transform service is a process of its own.
    await build({
      stdin: {
        contents: `
          import { startSentinel } from './src/sentinel/sentinel.ts';
          import { sampleSystem } from './src/sentinel/sample.ts';
          const [ticks, which, dockerSocket] = process.argv.slice(2);
          let n = 0;
          const sentinel = startSentinel({
            source: 'web-1',
            intervalMs: 100,
            ...(which === 'systeminformation' ? { sampler: sampleSystem } : { dockerSocket }),
            publisher: {
              async publish() {
                if (++n === Number(ticks)) setImmediate(() => sentinel.stop().then(() => process.stdout.write('ticks ' + n + '\\n')));
              },
            },
          });`,
        resolveDir: root,
        loader: 'ts',
        sourcefile: 'ticks.ts',
      },
      outfile: script,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
  });
  afterAll(() => {
    rmSync(outDir, { recursive: true, force: true });
  });

  /** Runs the script under strace (execve only, filtered in the kernel) and returns the programs it executed. */
  async function execsOf(ticks: number, which: 'default' | 'systeminformation'): Promise<string[]> {
    const log = `${outDir}/${which}.strace`;
    const child = spawn(
      'strace',
      ['-f', '--seccomp-bpf', '-e', 'trace=execve', '-qq', '-o', log, process.execPath, script, String(ticks), which, docker.socketPath],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    expect(out).toContain(`ticks ${ticks}`);
    expect(code).toBe(0);
    return readFileSync(log, 'utf8')
      .split('\n')
      .flatMap((line) => /execve\("([^"]+)"/.exec(line)?.[1] ?? []);
  }

  it('strace sees what systeminformation starts (so that one execve below means none besides node)', async () => {
    const programs = await execsOf(2, 'systeminformation');
    expect(programs.length).toBeGreaterThan(2);
  });

  it('executes nothing but node itself over 10 ticks of the default sampler', async () => {
    expect(await execsOf(10, 'default')).toEqual([process.execPath]);
  });
});
