import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol/wire.js';
import { container, startFakeDocker, type FakeDocker } from '../helpers/fake-docker.js';
import { buildCli } from '../helpers/bundle.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

// The sentinel CLI's flags for typos, sharded Pub/Sub, the history stream and the Docker socket, run as a
// child process from a private esbuild bundle of src/ (as cli.test.ts does).
const root = fileURLToPath(new URL('../../', import.meta.url));
const outDir = `${root}node_modules/.cache/system-stream-test/cli-flags-${randomUUID()}`;
const cli = `${outDir}/cli.mjs`;

let redis: TestRedis;
let docker: FakeDocker;

beforeAll(async () => {
  await buildCli(root, outDir);
  redis = await startRedis();
  docker = await startFakeDocker([container('api', 'running'), container('nightly-backup', 'exited')]);
});

afterAll(async () => {
  await redis.stop();
  await docker.dispose();
  rmSync(outDir, { recursive: true, force: true });
});

const children = new Set<ChildProcess>();
const connections = new Set<Redis>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  for (const c of connections) c.disconnect();
  connections.clear();
});

function runCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = once(child, 'close').then(([code]) => code as number | null);
  return { child, exit, stdout: () => stdout, stderr: () => stderr };
}

function connection(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  connections.add(c);
  return c;
}

describe('system-stream-sentinel flags', () => {
  it.each([
    [['--intervl', '500'], "Unknown option '--intervl'; did you mean '--interval'? See system-stream-sentinel --help."],
    [['--shardd'], "Unknown option '--shardd'; did you mean '--sharded'? See system-stream-sentinel --help."],
    [['--history-steam'], "Unknown option '--history-steam'; did you mean '--history-stream'? See system-stream-sentinel --help."],
    [['--dockersocket=/x'], "Unknown option '--dockersocket'; did you mean '--docker-socket'? See system-stream-sentinel --help."],
    [['--zebra'], "Unknown option '--zebra'. See system-stream-sentinel --help."],
  ])('%j: names the closest flag when there is one, exit code 2', async (args, line) => {
    const run = runCli(args);
    expect(await run.exit).toBe(2);
    expect(run.stderr()).toBe(`system-stream-sentinel: ${line}\n`);
  });

  it('refuses a SYSTEM_STREAM_SHARDED that is not true or false', async () => {
    const run = runCli([], { SYSTEM_STREAM_SHARDED: 'maybe' });
    expect(await run.exit).toBe(2);
    expect(run.stderr()).toMatch(/SYSTEM_STREAM_SHARDED to be true or false, got "maybe"/);
  });

  it('--help documents --sharded, --history-stream [key] and --docker-socket with their variables', async () => {
    const run = runCli(['--help']);
    expect(await run.exit).toBe(0);
    for (const word of [
      '--sharded',
      'SYSTEM_STREAM_SHARDED',
      '--history-stream [key]',
      'SYSTEM_STREAM_HISTORY_STREAM',
      '--docker-socket <path>',
      'DOCKER_HOST',
    ]) {
      expect(run.stdout()).toContain(word);
    }
  });

  it('--sharded publishes with SPUBLISH: a sharded subscriber receives the batches', async () => {
    const channel = redis.channel();
    const sub = connection();
    await sub.ssubscribe(channel);
    const message = once(sub, 'smessage').then(([, m]) => m as string);
    runCli(['--redis', redis.url, '--channel', channel, '--interval', '200', '--sharded']);
    const batch = JSON.parse(await message) as Envelope[];
    expect(batch.some((e) => e.type === 'system_metric' && e.data.metric_type === 'cpu')).toBe(true);
  });

  it.each([
    [
      '--history-stream (the default key)',
      (channel: string) => ['--history-stream', '--interval', '200'],
      (channel: string) => `{${channel}}:history`,
    ],
    ['--history-stream <key>', () => ['--history-stream', 'my-history', '--interval', '200'], () => 'my-history'],
    ['SYSTEM_STREAM_HISTORY_STREAM=true', () => ['--interval', '200'], (channel: string) => `{${channel}}:history`],
  ])('%s keeps every batch in the stream and publishes it stamped with its entry ID', async (how, args, key) => {
    const channel = redis.channel();
    const streamKey = key(channel);
    const sub = connection();
    await sub.subscribe(channel);
    const message = once(sub, 'message').then(([, m]) => m as string);
    const env: Record<string, string> = how.startsWith('SYSTEM_STREAM') ? { SYSTEM_STREAM_HISTORY_STREAM: 'true' } : {};
    const run = runCli(['--redis', redis.url, '--channel', channel, ...args(channel)], env);
    const text = await message;
    const id = /^(\d+-\d+) \[/.exec(text)?.[1];
    expect(id, text.slice(0, 80)).toBeDefined();
    const entries = (await connection().xrange(streamKey, id!, id!)) as [string, string[]][];
    expect(entries).toHaveLength(1);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
  });

  it('--docker-socket reads containers from that socket (--once prints them)', async () => {
    const run = runCli(['--once', '--interval', '100', '--source', 'web-1', '--docker-socket', docker.socketPath]);
    expect(await run.exit).toBe(0);
    const batch = JSON.parse(run.stdout()) as Envelope[];
    expect(batch.filter((e) => e.type === 'container_status').map((e) => [e.data.container, e.data.status])).toEqual([
      ['web-1/api', 'running'],
      ['web-1/nightly-backup', 'exited'],
    ]);
    expect(run.stderr()).not.toMatch(/no Docker daemon/);
  });

  it('DOCKER_HOST=unix://<path> works as --docker-socket does', async () => {
    const run = runCli(['--once', '--interval', '100', '--source', 'web-1'], { DOCKER_HOST: `unix://${docker.socketPath}` });
    expect(await run.exit).toBe(0);
    const batch = JSON.parse(run.stdout()) as Envelope[];
    expect(batch.filter((e) => e.type === 'container_status')).toHaveLength(2);
  });
});
