// The sentinel CLI's flags and environment variables, parsed into one checked configuration. Loads no
// dependency (the option kits import none), so that --help and usage errors answer at once.
import { parseArgs } from 'node:util';
import { closestName, DEFAULT_CHANNEL, integerMs, oneOf } from '../shared/option-kit.js';
import { DEFAULT_REDIS_URL, redisOption } from '../redis/redis-options.js';
import type { AlertThresholds, ThresholdSetting } from './alerts.js';

/** Bad usage: exit code 2 with the message. Option checks shared with the library throw `SST_ERR_INVALID_OPTION`, which counts the same. */
class UsageError extends Error {}

export const isUsageError = (err: unknown): err is Error =>
  err instanceof UsageError || (err instanceof Error && (err as { code?: unknown }).code === 'SST_ERR_INVALID_OPTION');

export const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type Level = (typeof LEVELS)[number];

export interface CliConfig {
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
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliConfig {
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
