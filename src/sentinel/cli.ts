#!/usr/bin/env node
// `system-stream-sentinel`: samples this host and publishes to Redis until SIGINT/SIGTERM.
// Exit codes: 0 after a clean stop or --help/--once, 1 on an unexpected failure, 2 for bad usage.
import type { Logger } from '../shared/logger.js';
import { DEFAULT_CHANNEL } from '../shared/option-kit.js';
import { DEFAULT_REDIS_URL } from '../redis/redis-options.js';
import { isUsageError, LEVELS, parseCli, type Level } from './cli-args.js';
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
