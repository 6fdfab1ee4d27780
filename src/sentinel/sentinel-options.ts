// The sentinel's options: the one options interface, and the checks and defaults that every other part
// relies on (resolveSentinelOptions). Where batches go (`publisher`, or `redis`/`channel`/`sharded`/
// `historyStream`) is checked by startSentinel and the publisher it creates.
import { invalidOption } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { functionOption, integerMs, loggerOption, nonEmptyString, optionsObject, type OptionNames } from '../shared/option-kit.js';
import type { SystemPublisher } from '../publisher/publisher.js';
import type { RedisLike } from '../redis/redis-connection.js';
import { resolveThresholds, type AlertThresholds, type ResolvedThreshold } from './alerts.js';
import { dockerSocketFromEnv } from './docker-api.js';
import type { Sampler } from './sample.js';
import { resolveSource } from './source.js';

/**
 * Options for {@link startSentinel}. Pass either `publisher` or `redis`/`channel`/`sharded`/`historyStream`, not both. An option
 * set to `undefined` takes its default; an option name the sentinel does not know is refused.
 * @public
 */
export interface SentinelOptions {
  /**
   * Where batches go: a {@link SystemPublisher} (or anything with its `publish` method, e.g. an in-process
   * bus). The sentinel never closes it. When left out, the sentinel creates a publisher from `redis` and
   * `channel` and closes it on `stop()`.
   * @defaultValue a publisher created from `redis` and `channel`
   */
  readonly publisher?: Pick<SystemPublisher, 'publish'> | undefined;
  /**
   * Redis for the publisher the sentinel creates: a URL or your ioredis client (never closed by the
   * sentinel), checked as {@link SystemPublisherOptions.redis} is.
   * @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`
   */
  readonly redis?: string | RedisLike | undefined;
  /**
   * The channel for the publisher the sentinel creates.
   * @defaultValue `system:metrics`
   */
  readonly channel?: string | undefined;
  /**
   * Publish with SPUBLISH (sharded Pub/Sub) from the publisher the sentinel creates, for a stream attached
   * with `sharded: true`; checked as {@link SystemPublisherOptions.sharded} is.
   * @defaultValue `false`
   */
  readonly sharded?: boolean | undefined;
  /**
   * Also keep every batch in a capped Redis Stream, from which streams attached with the same
   * `historyStream` recover what they missed (`true`: the channel's default key; a string: that key);
   * passed to the publisher the sentinel creates, as {@link SystemPublisherOptions.historyStream}.
   * @defaultValue `false`: plain PUBLISH
   */
  readonly historyStream?: boolean | string | undefined;
  /**
   * This machine's identity, so that several hosts can publish to one channel: host-wide metrics
   * (cpu, memory, load) have `source: "<source>"`, a mount point or an interface
   * `source: "<source>:<mount or interface>"` (e.g. `web-1:/var`, `web-1:eth0`), containers are named
   * `<source>/<container>`, and every metric's `meta.host` is `<source>`. 1 to 128 characters without
   * `:`, `/` or whitespace.
   * @defaultValue `os.hostname()`
   */
  readonly source?: string | undefined;
  /**
   * Time between two samples, in whole milliseconds from 100 to 2147483647. A tick that takes longer
   * (a slow collector, Redis timing out) is not overlapped by the next: the ticks it overran are
   * skipped, not queued.
   * @defaultValue `1000`
   */
  readonly intervalMs?: number | undefined;
  /**
   * Alert thresholds by `metric_type`, merged over {@link DEFAULT_THRESHOLDS}; e.g. `{ cpu: 80, disk: false }`.
   * @defaultValue {@link DEFAULT_THRESHOLDS}
   */
  readonly thresholds?: AlertThresholds | undefined;
  /**
   * Takes one sample; replace it to feed recorded or synthetic data.
   * @defaultValue on Linux, a sampler that reads `/proc`, `statfs` and the Docker Engine API from Node
   * and starts no process; on other systems {@link sampleSystem} (systeminformation)
   */
  readonly sampler?: Sampler | undefined;
  /**
   * Path of the Docker Engine API's Unix socket the default sampler reads containers from on Linux
   * (Podman's Docker-compatible socket, e.g. `/run/podman/podman.sock`, works too). Without a daemon
   * there, the sentinel logs one warning and publishes host metrics only. Not used with your own
   * `sampler`, which is refused together with this option.
   * @defaultValue the path of `DOCKER_HOST` when it is a `unix://` URL, else `DOCKER_SOCKET`, else `/var/run/docker.sock`
   */
  readonly dockerSocket?: string | undefined;
  /**
   * How often every container's state and every alert still active is published again, changed or
   * not, so that a stream (re)started in between learns them within one period, in whole milliseconds
   * from 1 to 2147483647. Changes go out at once; a resolved alert is not re-announced.
   * @defaultValue `30000`
   */
  readonly containerReannounceMs?: number | undefined;
  /**
   * A pino-compatible logger.
   * @defaultValue silent
   */
  readonly logger?: Logger | undefined;
}

const OPTION_NAMES: OptionNames<SentinelOptions> = {
  publisher: true,
  redis: true,
  channel: true,
  sharded: true,
  historyStream: true,
  source: true,
  intervalMs: true,
  thresholds: true,
  sampler: true,
  dockerSocket: true,
  containerReannounceMs: true,
  logger: true,
};
const DEFAULTS = { intervalMs: 1000, containerReannounceMs: 30_000 } as const;

/** Settings after defaults and checks. */
export interface ResolvedSentinelOptions {
  readonly source: string;
  readonly intervalMs: number;
  readonly containerReannounceMs: number;
  readonly thresholds: ReadonlyMap<string, ResolvedThreshold>;
  /** The sampler given, or `undefined` for the default one (created per sentinel: it keeps state). */
  readonly sampler: Sampler | undefined;
  readonly dockerSocket: string;
  readonly logger: Logger;
}

/**
 * Checks the options that do not concern where batches go (those are checked by {@link startSentinel}
 * and the publisher it creates); throws `SST_ERR_INVALID_OPTION`.
 */
export function resolveSentinelOptions(options: SentinelOptions | undefined): ResolvedSentinelOptions {
  const input = optionsObject(options, OPTION_NAMES, 'startSentinel');
  if (input.sampler !== undefined && input.dockerSocket !== undefined) {
    throw invalidOption('Pass either `sampler` or `dockerSocket`: the socket is read by the default sampler only');
  }
  return {
    source: resolveSource(input.source),
    intervalMs: integerMs('intervalMs', input.intervalMs ?? DEFAULTS.intervalMs, { min: 100 }),
    containerReannounceMs: integerMs('containerReannounceMs', input.containerReannounceMs ?? DEFAULTS.containerReannounceMs, { min: 1 }),
    thresholds: resolveThresholds(input.thresholds),
    sampler: functionOption('sampler', input.sampler),
    dockerSocket: input.dockerSocket === undefined ? dockerSocketFromEnv() : nonEmptyString('dockerSocket', input.dockerSocket),
    logger: loggerOption(input.logger),
  };
}
