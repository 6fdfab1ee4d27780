import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { buildCli } from '../helpers/bundle.js';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envelopeValidator } from '../../src/shared/envelope-validator.js';
import type { Envelope } from '../../src/protocol/wire.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';

// The CLI runs as a child process, as `system-stream-sentinel` would. It is bundled from source with
// esbuild into a private folder (dependencies stay external and resolve from node_modules), so the test
// works from a clean clone and never races another build writing dist/.
const root = fileURLToPath(new URL('../../', import.meta.url));
const outDir = `${root}node_modules/.cache/system-stream-test/cli-${randomUUID()}`;
const cli = `${outDir}/cli.mjs`;

beforeAll(async () => {
  await buildCli(root, outDir);
});

afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
});

interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

/** Runs the CLI with `args` and only the environment given (plus PATH), so the host's REDIS_URL cannot leak in. */
function runCli(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

describe('system-stream-sentinel', () => {
  it('is the package bin, built from a source that starts with a node shebang', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin).toEqual({ 'system-stream-sentinel': './dist/sentinel/cli.js' });
    expect(pkg.scripts['sentinel']).toBe('node dist/sentinel/cli.js');
    expect(readFileSync(`${root}src/sentinel/cli.ts`, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('--help prints usage with every flag and its environment variable, and exits 0', async () => {
    const run = runCli(['--help']);
    expect(await run.exit).toEqual({ code: 0, signal: null });
    const help = run.stdout();
    expect(help).toMatch(/^Usage: system-stream-sentinel/);
    for (const word of [
      '--redis',
      '--channel',
      '--source',
      'SYSTEM_STREAM_SOURCE',
      '--interval',
      '--threshold',
      '--once',
      '--help',
      'REDIS_URL',
      'SYSTEM_STREAM_CHANNEL',
      'SYSTEM_STREAM_INTERVAL_MS',
      'SYSTEM_STREAM_THRESHOLDS',
    ]) {
      expect(help).toContain(word);
    }
    expect(run.stderr()).toBe('');
  });

  it('--help documents --log-format and SYSTEM_STREAM_LOG_FORMAT', async () => {
    const run = runCli(['--help']);
    expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(run.stdout()).toMatch(/--log-format <format> +text, or json: one JSON object per line/);
    expect(run.stdout()).toContain('SYSTEM_STREAM_LOG_FORMAT (default text)');
  });

  it.each([
    ['an unknown flag', ['--bogus'], {}, /Unknown option '--bogus'/],
    ['a positional argument', ['now'], {}, /Unexpected argument 'now'/],
    ['a missing value', ['--interval'], {}, /--interval/],
    ['an interval below 100 ms', ['--interval', '5'], {}, /--interval.*got 5\b/],
    ['an interval past the longest timer', ['--interval', '2147483648'], {}, /--interval.*from 100 to 2147483647.*got 2147483648/],
    ['a log level that is not one', ['--log-level', 'loud'], {}, /--log-level.*one of debug, info, warn, error, silent, got "loud"/],
    [
      'a log format that is not one',
      ['--log-format', 'xml'],
      {},
      /`--log-format \/ SYSTEM_STREAM_LOG_FORMAT` to be one of text, json, got "xml"/,
    ],
    ['a bad SYSTEM_STREAM_LOG_FORMAT', [], { SYSTEM_STREAM_LOG_FORMAT: 'JSON' }, /SYSTEM_STREAM_LOG_FORMAT.*got "JSON"/],
    ['a malformed threshold', ['--threshold', 'cpu'], {}, /--threshold.*"cpu"/],
    ['a critical line below the warning line', ['--threshold', 'cpu=90:80'], {}, /critical 80 is below warning 90/],
    ['a bad environment variable', [], { SYSTEM_STREAM_INTERVAL_MS: 'soon' }, /SYSTEM_STREAM_INTERVAL_MS.*"soon"/],
    ['a Redis URL that is not one', ['--redis', 'http://user:pw-in-url@example.com'], {}, /--redis/],
    ['a Redis URL with an unclosed IPv6 bracket', ['--redis', 'redis://:pw-in-url@[::1'], {}, /`--redis \/ REDIS_URL`.*not a valid URL/],
    [
      'a REDIS_URL with a port over 65535',
      [],
      { REDIS_URL: 'redis://:pw-in-url@127.0.0.1:70000' },
      /`--redis \/ REDIS_URL`.*port is above 65535/,
    ],
    [
      'a Redis URL with a bad % escape',
      ['--redis', 'redis://:pw-in-url%zz@127.0.0.1:1'],
      {},
      /`--redis \/ REDIS_URL`.*malformed percent-escape/,
    ],
    ['a source with a colon', ['--source', 'web:1'], {}, /`source`.*"web:1"/],
  ])('%s: one line on stderr and exit code 2', async (_what, args, env, message) => {
    const run = runCli(args, env as Record<string, string>);
    expect(await run.exit).toEqual({ code: 2, signal: null });
    const lines = run.stderr().split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^system-stream-sentinel: /);
    expect(lines[0]).toMatch(message);
    expect(lines[0]).not.toContain('pw-in-url');
    expect(run.stdout()).toBe('');
  });

  it('--once prints one valid batch as JSON and exits 0, without Redis', async () => {
    // REDIS_URL points at a closed port: --once must not need it.
    const run = runCli(['--once', '--interval', '300', '--source', 'web-1', '--threshold', 'memory=0:100', '--threshold', 'cpu=off'], {
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    });
    expect(await run.exit).toEqual({ code: 0, signal: null });
    const batch = JSON.parse(run.stdout()) as Envelope[];
    const validate = envelopeValidator();
    for (const e of batch) expect(validate(e), JSON.stringify(validate.errors)).toBe(true);
    const series = batch.map((e) => (e.type === 'system_metric' ? `${e.data.metric_type}:${e.data.source}` : e.type));
    expect(series[0]).toBe('alert'); // memory crossed 0 %: alerts lead the batch
    expect(series).toEqual(expect.arrayContaining(['cpu:web-1', 'memory:web-1', 'load:web-1', 'disk:web-1:/']));
    expect(series.some((s) => s.startsWith('net_rx:web-1:'))).toBe(true); // the second sample has rates
  });

  it('names the host with --source, else SYSTEM_STREAM_SOURCE, else the hostname', async () => {
    const cpuSource = async (args: string[], env: Record<string, string>): Promise<string | undefined> => {
      const run = runCli(['--once', '--interval', '100', ...args], env);
      expect(await run.exit).toEqual({ code: 0, signal: null });
      const batch = JSON.parse(run.stdout()) as Envelope[];
      const cpu = batch.find((e) => e.type === 'system_metric' && e.data.metric_type === 'cpu');
      return cpu?.type === 'system_metric' ? cpu.data.source : undefined;
    };
    expect(await cpuSource(['--source', 'flag-host'], { SYSTEM_STREAM_SOURCE: 'env-host' })).toBe('flag-host');
    expect(await cpuSource([], { SYSTEM_STREAM_SOURCE: 'env-host' })).toBe('env-host');
    expect(await cpuSource([], {})).toBe(hostname());
  });

  describe('with Redis running', () => {
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis.stop();
    });

    async function firstMessage(channel: string): Promise<{ message: Promise<string>; close: () => void }> {
      const sub = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      sub.on('error', () => {});
      await sub.subscribe(channel);
      const message = once(sub, 'message').then(([, m]) => m as string);
      return { message, close: () => sub.disconnect() };
    }

    it.each(['SIGTERM', 'SIGINT'] as const)('publishes batches until %s, then stops cleanly with exit code 0', async (signal) => {
      const channel = redis.channel();
      const sub = await firstMessage(channel);
      try {
        // The password travels in the URL; the "default" user accepts any password on an unprotected server.
        const url = `redis://default:s3cret-token@127.0.0.1:${redis.port}`;
        const run =
          signal === 'SIGTERM'
            ? runCli(['--redis', url, '--channel', channel, '--interval', '200'])
            : runCli([], { REDIS_URL: url, SYSTEM_STREAM_CHANNEL: channel, SYSTEM_STREAM_INTERVAL_MS: '200' });
        const batch = JSON.parse(await sub.message) as Envelope[];
        expect(Array.isArray(batch)).toBe(true);
        expect(batch.some((e) => e.type === 'system_metric' && e.data.metric_type === 'cpu')).toBe(true);
        run.child.kill(signal);
        expect(await run.exit).toEqual({ code: 0, signal: null });
        expect(run.stderr()).toMatch(/stopping/);
        expect(run.stderr()).toMatch(/sentinel stopped/);
        expect(run.stderr()).not.toContain('s3cret-token');
        expect(run.stdout()).toBe('');
      } finally {
        sub.close();
      }
    });

    it.each([
      [
        '--log-format json',
        (url: string, channel: string) =>
          runCli(['--redis', url, '--channel', channel, '--interval', '200', '--log-format', 'json', '--log-level', 'debug']),
      ],
      [
        'SYSTEM_STREAM_LOG_FORMAT=json',
        (url: string, channel: string) =>
          runCli([], {
            REDIS_URL: url,
            SYSTEM_STREAM_CHANNEL: channel,
            SYSTEM_STREAM_INTERVAL_MS: '200',
            SYSTEM_STREAM_LOG_FORMAT: 'json',
            SYSTEM_STREAM_LOG_LEVEL: 'debug',
          }),
      ],
    ])('%s: one JSON object per line on stderr with level, time, msg and event, never the password', async (_how, start) => {
      const channel = redis.channel();
      const sub = await firstMessage(channel);
      try {
        const run = start(`redis://default:s3cret-token@127.0.0.1:${redis.port}`, channel);
        await sub.message;
        run.child.kill('SIGTERM');
        expect(await run.exit).toEqual({ code: 0, signal: null });
        const lines = run.stderr().split('\n').filter(Boolean);
        expect(lines.length).toBeGreaterThanOrEqual(4);
        const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
        for (const entry of entries) {
          expect(Object.keys(entry).slice(0, 3)).toEqual(['level', 'time', 'msg']);
          expect(['debug', 'info', 'warn', 'error']).toContain(entry['level']);
          expect(new Date(entry['time'] as string).toISOString()).toBe(entry['time']);
          expect(typeof entry['msg']).toBe('string');
        }
        expect(entries.find((e) => e['event'] === 'sentinel_publishing')).toMatchObject({ level: 'info', channel });
        expect(entries.find((e) => e['event'] === 'sentinel_stopping')).toMatchObject({ level: 'info', signal: 'SIGTERM' });
        expect(entries.some((e) => e['level'] === 'debug')).toBe(true); // the level applies to JSON lines too
        expect(run.stderr()).not.toContain('s3cret-token');
        expect(run.stdout()).toBe('');
      } finally {
        sub.close();
      }
    });
  });
});
