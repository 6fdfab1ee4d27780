#!/usr/bin/env node
// `system-stream-sentinel`: samples this host and publishes to Redis until SIGINT/SIGTERM.
// Exit codes: 0 after a clean stop or --help/--once, 1 on an unexpected failure, 2 for bad usage.
import { parseArgs } from 'node:util';
import type { Logger } from '../shared/logger.js';
import { closestName, DEFAULT_CHANNEL, integerMs, oneOf } from '../shared/option-kit.js';
import { DEFAULT_REDIS_URL, redisOption } from '../redis/redis-options.js';
import type { AlertThresholds, ThresholdSetting } from './alerts.js';
import { createJsonLogger } from './json-logger.js';
// The sentinel (systeminformation, ioredis, ajv) is imported only once the arguments are valid, so that
// --help and usage errors answer at once. The option kit imports none of them.
import type { SentinelOptions } from './sentinel-options.js';

const NAME = 'system-stream-sentinel';

const HELP = `Usage: ${NAME} [options]

Samples this host (CPU, memory, disks, load, network, Docker containers) and publishes one batch of
system-stream envelopes per interval to a Redis Pub/Sub channel. On Linux it reads /proc, statfs and
the Docker Engine API and starts no process per sample; elsewhere it uses systeminformation.

Options (each also read from the environment variable shown; a flag wins over the variable):
  --redis <url>            Redis URL                       REDIS_URL (default ${DEFAULT_REDIS_URL})
  --channel <name>         Pub/Sub channel                  SYSTEM_STREAM_CHANNEL (default ${DEFAULT_CHANNEL})
  --sharded                publish with SPUBLISH, for a stream attached with sharded: true
                                                            SYSTEM_STREAM_SHARDED (true or false, default false)
  --history-stream [key]   also keep every batch in a capped Redis Stream, from which streams attached
                           with the same historyStream recover what they missed; without a key:
                           "{<channel>}:history"            SYSTEM_STREAM_HISTORY_STREAM (true or a key)
  --source <name>          this machine's name in every series: cpu on "<name>", disks "<name>:/var",
                           interfaces "<name>:eth0", containers "<name>/api"
                                                            SYSTEM_STREAM_SOURCE (default: the hostname)
  --interval <ms>          time between samples, >= 100     SYSTEM_STREAM_INTERVAL_MS (default 1000)
  --threshold <m>=<w>[:<c>]
                           alert threshold of a metric: warning w, critical c, or "off";
                           repeatable, e.g. --threshold cpu=80:95 --threshold disk=off
                                                            SYSTEM_STREAM_THRESHOLDS (comma-separated,
                                                            e.g. "cpu=80:95,memory=85")
                           defaults: cpu, memory, disk warn at 90, critical at 95, clear 5 below
  --container-reannounce <ms>
                           re-publish every container's state and every active alert this often
                                                            SYSTEM_STREAM_CONTAINER_REANNOUNCE_MS (default 30000)
  --docker-socket <path>   Docker Engine API socket (Podman's Docker-compatible one works too); without
                           a daemon there: one warning, host metrics only
                                                            DOCKER_HOST (unix://<path>; default /var/run/docker.sock)
  --log-level <level>      debug, info, warn, error or silent (logs go to stderr)
                                                            SYSTEM_STREAM_LOG_LEVEL (default info)
  --log-format <format>    text, or json: one JSON object per line (level, time, msg, event, ...)
                                                            SYSTEM_STREAM_LOG_FORMAT (default text)
  --once                   sample twice, <interval> apart, print the batch as JSON to stdout and exit;
                           does not connect to Redis
  -h, --help               show this help

SIGINT and SIGTERM stop it cleanly (exit code 0). Bad usage exits with code 2.
`;

/** Bad usage: exit code 2 with the message. Option checks shared with the library throw `SST_ERR_INVALID_OPTION`, which counts the same. */
class UsageError extends Error {}

const isUsageError = (err: unknown): err is Error =>
  err instanceof UsageError || (err instanceof Error && (err as { code?: unknown }).code === 'SST_ERR_INVALID_OPTION');

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
type Level = (typeof LEVELS)[number];

interface CliConfig {
  readonly redis: string;
  readonly channel: string;
  readonly sharded: boolean;
  /** `true`: the channel's default key. */
  readonly historyStream: string | boolean;
  readonly dockerSocket: string | undefined;
  readonly source: string | undefined;
  readonly intervalMs: number;
  readonly thresholds: AlertThresholds;
  readonly containerReannounceMs: number;
  readonly logLevel: Level;
  readonly logFormat: 'text' | 'json';
  readonly isOnce: boolean;
  readonly isHelp: boolean;
}

const FLAGS = {
  redis: { type: 'string' },
  channel: { type: 'string' },
  sharded: { type: 'boolean' },
  'history-stream': { type: 'string' },
  source: { type: 'string' },
  interval: { type: 'string' },
  threshold: { type: 'string', multiple: true },
  'container-reannounce': { type: 'string' },
  'docker-socket': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  once: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `--history-stream` takes an optional key, which parseArgs cannot express: a bare one (last, or
 * followed by another flag) becomes `--history-stream=`, read as "the default key".
 */
function withOptionalValues(argv: readonly string[]): string[] {
  return argv.map((arg, i) =>
    arg === '--history-stream' && (i + 1 >= argv.length || argv[i + 1]!.startsWith('-')) ? '--history-stream=' : arg,
  );
}

/** Parses flags and environment variables; throws a usage error ({@link isUsageError}) with a one-line message. */
function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliConfig {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: withOptionalValues(argv), strict: true, allowPositionals: false, options: FLAGS }));
  } catch (err) {
    throw new UsageError(parseArgsMessage(err));
  }
  const str = (flag: string, variable: string): string | undefined => {
    const v = values[flag];
    return typeof v === 'string' ? v : nonEmpty(env[variable]);
  };

  // The same checks as the library's options, under the flag's name; the message never echoes the URL.
  // An empty variable counts as unset, so the default here is the constant, not REDIS_URL again.
  const redis = redisOption(str('redis', 'REDIS_URL') ?? DEFAULT_REDIS_URL, 'publisher', '--redis / REDIS_URL') as string;
  const channel = str('channel', 'SYSTEM_STREAM_CHANNEL') ?? DEFAULT_CHANNEL;
  const sharded = values['sharded'] === true || booleanVariable(env, 'SYSTEM_STREAM_SHARDED');
  const historyFlag = values['history-stream'];
  const historyVariable = nonEmpty(env['SYSTEM_STREAM_HISTORY_STREAM']);
  const historyStream =
    typeof historyFlag === 'string'
      ? historyFlag === '' || historyFlag
      : historyVariable === undefined || historyVariable === 'false'
        ? false
        : historyVariable === 'true' || historyVariable;
  // Checked by startSentinel; DOCKER_HOST (unix://) is read there when the flag is not given.
  const dockerSocket = typeof values['docker-socket'] === 'string' ? values['docker-socket'] : undefined;
  // Checked by startSentinel, whose message names `source`; an invalid one exits 2 like any bad option.
  const source = str('source', 'SYSTEM_STREAM_SOURCE');
  const intervalMs = msFlag(str('interval', 'SYSTEM_STREAM_INTERVAL_MS'), '--interval / SYSTEM_STREAM_INTERVAL_MS', 1000, 100);
  const containerReannounceMs = msFlag(
    str('container-reannounce', 'SYSTEM_STREAM_CONTAINER_REANNOUNCE_MS'),
    '--container-reannounce / SYSTEM_STREAM_CONTAINER_REANNOUNCE_MS',
    30_000,
    1,
  );
  const logLevel = oneOf('--log-level / SYSTEM_STREAM_LOG_LEVEL', str('log-level', 'SYSTEM_STREAM_LOG_LEVEL') ?? 'info', LEVELS);
  const logFormat = oneOf('--log-format / SYSTEM_STREAM_LOG_FORMAT', str('log-format', 'SYSTEM_STREAM_LOG_FORMAT') ?? 'text', [
    'text',
    'json',
  ]);

  const thresholds: Record<string, ThresholdSetting | number | false> = {};
  const fromEnv = nonEmpty(env['SYSTEM_STREAM_THRESHOLDS'])?.split(',') ?? [];
  for (const spec of [...fromEnv, ...((values['threshold'] as string[] | undefined) ?? [])]) {
    const [name, setting] = parseThreshold(spec.trim());
    thresholds[name] = setting;
  }

  return {
    redis,
    channel,
    sharded,
    historyStream,
    dockerSocket,
    source,
    intervalMs,
    thresholds,
    containerReannounceMs,
    logLevel,
    logFormat,
    isOnce: values['once'] === true,
    isHelp: values['help'] === true,
  };
}

/** `cpu=90`, `cpu=90:95` or `cpu=off`. */
function parseThreshold(spec: string): [string, ThresholdSetting | number | false] {
  const match = /^([A-Za-z0-9_.-]{1,64})=(.+)$/.exec(spec);
  if (!match) throw new UsageError(`--threshold expects <metric>=<warning>[:<critical>] or <metric>=off, got ${JSON.stringify(spec)}`);
  const [, name, value] = match as unknown as [string, string, string];
  if (value === 'off') return [name, false];
  const parts = value.split(':');
  const numbers = parts.map((p) => (/^-?\d+(\.\d+)?$/.test(p) ? Number(p) : NaN));
  if (parts.length > 2 || numbers.some((n) => !Number.isFinite(n))) {
    throw new UsageError(`--threshold ${name} expects <warning>[:<critical>] numbers or "off", got ${JSON.stringify(value)}`);
  }
  const [warning, critical] = numbers as [number, number | undefined];
  if (critical === undefined) return [name, warning];
  if (critical < warning) throw new UsageError(`--threshold ${name}: critical ${critical} is below warning ${warning}`);
  return [name, { warning, critical }];
}

/** A duration flag: decimal digits only (no `1e3`, no `0x10`), then the library's {@link integerMs} check. */
function msFlag(raw: string | undefined, name: string, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  return integerMs(name, /^\d+$/.test(raw) ? Number(raw) : raw, { min });
}

/** `true`/`1` or `false`/`0` (or unset); anything else is a usage error naming the variable. */
function booleanVariable(env: NodeJS.ProcessEnv, name: string): boolean {
  const value = nonEmpty(env[name]);
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new UsageError(`Expected ${name} to be true or false, got ${JSON.stringify(value)}`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function parseArgsMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  // parseArgs's own messages are long and suggest `--` tricks; keep the first sentence.
  const first = (e.message ?? String(err)).split(/\.\s|\n/)[0] ?? 'invalid arguments';
  const message = first.endsWith('.') ? first.slice(0, -1) : first;
  // A long flag that is a typo of a known one: name the one meant.
  const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'--([^'=]+)/.exec(message)?.[1] : undefined;
  const suggestion = unknown === undefined ? undefined : closestName(unknown, Object.keys(FLAGS));
  return suggestion === undefined ? message : `${message}; did you mean '--${suggestion}'?`;
}

/** One line per entry on stderr: time, level, message, then the fields as JSON. Errors keep only message and code. */
function stderrLogger(level: Level): Logger {
  const rank = LEVELS.indexOf(level);
  const line =
    (name: Exclude<Level, 'silent'>) =>
    (obj: object, msg?: string): void => {
      if (LEVELS.indexOf(name) < rank) return;
      const fields =
        Object.keys(obj).length > 0 ? ` ${JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? { message: v.message } : v))}` : '';
      process.stderr.write(`${new Date().toISOString()} ${name.toUpperCase()} ${msg ?? ''}${fields}\n`);
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/** Resolves once `text` is handed to the OS, so that `process.exit()` right after cannot cut it off. */
function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

/** Exit code 2 with one line on stderr for bad usage, wherever it is found (here or in the sentinel's own checks). */
async function main(): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (!isUsageError(err)) throw err;
    const end = err.message.endsWith('?') ? '' : '.';
    await write(process.stderr, `${NAME}: ${err.message}${end} See ${NAME} --help.\n`);
    return 2;
  }
}

async function run(): Promise<number> {
  const config = parseCli(process.argv.slice(2), process.env);
  if (config.isHelp) {
    await write(process.stdout, HELP);
    return 0;
  }
  const logger =
    config.logFormat === 'json'
      ? createJsonLogger(
          (level) => LEVELS.indexOf(level) >= LEVELS.indexOf(config.logLevel),
          (line) => process.stderr.write(line),
        )
      : stderrLogger(config.logLevel);
  const common: SentinelOptions = {
    source: config.source,
    intervalMs: config.intervalMs,
    thresholds: config.thresholds,
    containerReannounceMs: config.containerReannounceMs,
    dockerSocket: config.dockerSocket,
    logger,
  };
  const { sampleOnce, startSentinel } = await import('./sentinel.js');
  if (config.isOnce) {
    const batch = await sampleOnce(common);
    await write(process.stdout, `${JSON.stringify(batch, null, 2)}\n`);
    return 0;
  }
  const sentinel = startSentinel({
    ...common,
    redis: config.redis,
    channel: config.channel,
    sharded: config.sharded || undefined,
    historyStream: config.historyStream || undefined,
  });
  logger.info(
    {
      event: 'sentinel_publishing',
      channel: config.channel,
      ...(config.sharded ? { sharded: true } : {}),
      ...(config.historyStream !== false ? { historyStream: config.historyStream } : {}),
    },
    'publishing; stop with Ctrl+C',
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  // A second signal while stopping ends the process at once.
  const force = (): never => process.exit(1);
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  logger.info({ event: 'sentinel_stopping', signal }, 'stopping');
  await sentinel.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
