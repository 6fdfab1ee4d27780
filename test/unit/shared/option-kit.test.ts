import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SystemStreamError } from '../../../src/shared/errors.js';
import { noopLogger } from '../../../src/shared/logger.js';
import {
  closestName,
  DEFAULT_CHANNEL,
  editDistance,
  integerMs,
  integerOption,
  loggerOption,
  MAX_TIMER_MS,
  numberOption,
  oneOf,
  refuseUnknownKeys,
  stringList,
} from '../../../src/shared/option-kit.js';
import { DEFAULT_REDIS_URL, defaultRedis, redisOption } from '../../../src/redis/redis-options.js';
import { resolveOptions } from '../../../src/server/options.js';
import { resolvePublisherOptions } from '../../../src/publisher/publisher-options.js';
import { resolveSentinelOptions } from '../../../src/sentinel/sentinel-options.js';
import { startSentinel } from '../../../src/sentinel/sentinel.js';

/** Runs `fn` and returns what it threw, expecting an `SST_ERR_INVALID_OPTION`. */
function invalid(fn: () => unknown): SystemStreamError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SystemStreamError);
    expect((err as SystemStreamError).code).toBe('SST_ERR_INVALID_OPTION');
    return err as SystemStreamError;
  }
  throw new Error('expected SST_ERR_INVALID_OPTION, nothing was thrown');
}

/** Every way an error can be shown or logged, joined: a secret must be in none of them. */
function everyRendering(err: SystemStreamError): string {
  return [
    String(err),
    err.message,
    JSON.stringify(err),
    inspect(err, { depth: 10 }),
    String(err.stack),
    inspect(err.cause, { depth: 10 }),
  ].join('\n');
}

// A recording publisher for startSentinel, so that rows that pass start nothing that talks to Redis.
const publisher = { publish: async () => 1 };

/**
 * Every entry point's option resolver, as a function of the options under test plus the least it needs
 * to pass otherwise. Each returns the resolved options; none opens a connection or starts a timer.
 */
const resolvers = {
  attachSystemStream: (o: Record<string, unknown>) => resolveOptions({ auth: false, ...o }) as unknown as Record<string, unknown>,
  createSystemPublisher: (o: Record<string, unknown>) => resolvePublisherOptions(o) as unknown as Record<string, unknown>,
  startSentinel: (o: Record<string, unknown>) => resolveSentinelOptions(o) as unknown as Record<string, unknown>,
} as const;
type Entry = keyof typeof resolvers;

/** The timer options of each entry: name, smallest value, largest value, default. */
const TIMER_OPTIONS: readonly [Entry, string, number, number, number][] = [
  ['attachSystemStream', 'throttleMs', 0, MAX_TIMER_MS, 50],
  ['attachSystemStream', 'slowClientTimeoutMs', 1, MAX_TIMER_MS, 10_000],
  ['attachSystemStream', 'heartbeatIntervalMs', 10, MAX_TIMER_MS, 30_000],
  ['attachSystemStream', 'redisHealthCheckMs', 10, MAX_TIMER_MS, 1000],
  ['attachSystemStream', 'staleFloorMs', 100, MAX_TIMER_MS, 5000],
  ['attachSystemStream', 'historyMs', 0, MAX_TIMER_MS, 300_000],
  ['createSystemPublisher', 'publishTimeoutMs', 1, MAX_TIMER_MS - 1000, 2000],
  ['startSentinel', 'intervalMs', 100, MAX_TIMER_MS, 1000],
  ['startSentinel', 'containerReannounceMs', 1, MAX_TIMER_MS, 30_000],
];

/** Redis URLs that pass a `redis://` prefix check but that ioredis cannot open; each carries a password. */
const BAD_REDIS_URLS: readonly [string, string, RegExp][] = [
  ['an unclosed IPv6 bracket', 'redis://:hunter2-secret@[::1', /not a valid URL/],
  ['a port over 65535', 'redis://:hunter2-secret@127.0.0.1:70000', /port is above 65535/],
  ['a malformed %-escape in the password', 'redis://:hunter2%zz-secret@127.0.0.1:1', /malformed percent-escape/],
  ['a malformed %-escape in the user name', 'redis://us%e0r:hunter2-secret@127.0.0.1:1', /malformed percent-escape/],
  ['a space in the host', 'redis://:hunter2-secret@my host:1', /not a valid URL/],
  ['a database that is not a number', 'redis://:hunter2-secret@127.0.0.1:1/zero', /database number/],
  ['another scheme', 'http://:hunter2-secret@127.0.0.1:1', /does not start with redis:\/\//],
  ['no scheme', ':hunter2-secret@127.0.0.1:1', /does not start with redis:\/\//],
];

/** For each entry, a misspelling of one of its options and the option meant. */
const TYPOS: readonly [Entry, string, string][] = [
  ['attachSystemStream', 'maxClient', 'maxClients'],
  ['attachSystemStream', 'throtleMs', 'throttleMs'],
  ['attachSystemStream', 'heartbeatIntervalMS', 'heartbeatIntervalMs'],
  ['attachSystemStream', 'chanel', 'channel'],
  ['attachSystemStream', 'apikeys', 'apiKeys'],
  ['createSystemPublisher', 'redsi', 'redis'],
  ['createSystemPublisher', 'publishTimeout', 'publishTimeoutMs'],
  ['startSentinel', 'interval', 'intervalMs'],
  ['startSentinel', 'treshholds', 'thresholds'],
];

describe('option resolvers (attachSystemStream, createSystemPublisher, startSentinel)', () => {
  describe.each(TIMER_OPTIONS)('%s: timer option %s', (entry, name, min, max, fallback) => {
    const resolve = resolvers[entry];
    it.each([Infinity, -Infinity, Number.NaN, max + 1, 2 ** 31, 1e100, 1.5, min - 1, '100'])('rejects %s, naming the option', (value) => {
      const err = invalid(() => resolve({ [name]: value }));
      expect(err.message).toMatch(new RegExp(`^Expected \`${name}\` to be an integer from ${min} to ${max} \\(milliseconds\\), got `));
    });

    it('says why a value past Node’s timer limit is refused', () => {
      expect(invalid(() => resolve({ [name]: Infinity })).message).toMatch(/Node's timers cannot wait longer than 2147483647 ms/);
    });

    it(`accepts ${min} and ${max}, and takes ${fallback} when undefined`, () => {
      expect(resolve({ [name]: min })[name]).toBe(min);
      expect(resolve({ [name]: max })[name]).toBe(max);
      expect(resolve({ [name]: undefined })[name]).toBe(fallback);
    });
  });

  describe.each(TYPOS)('%s: unknown option %s', (entry, typo, meant) => {
    it(`is refused with "did you mean \`${meant}\`?"`, () => {
      const err = invalid(() => resolvers[entry]({ [typo]: 1 }));
      expect(err.message).toBe(`Unknown option \`${typo}\` of ${entry}; did you mean \`${meant}\`?`);
    });
  });

  it.each(Object.keys(resolvers) as Entry[])(
    '%s: an unknown option far from every known one is refused with the list of known ones',
    (entry) => {
      const err = invalid(() => resolvers[entry]({ somethingElseEntirely: true }));
      expect(err.message).toMatch(new RegExp(`^Unknown option \`somethingElseEntirely\` of ${entry}; it takes \`\\w+\`(, \`\\w+\`)+$`));
    },
  );

  it.each(Object.keys(resolvers) as Entry[])('%s: an own __proto__ key (as JSON.parse makes) is an unknown option', (entry) => {
    const err = invalid(() => resolvers[entry](JSON.parse('{"__proto__": {"auth": false}}') as Record<string, unknown>));
    expect(err.message).toMatch(/^Unknown option `__proto__`/);
  });

  it.each(Object.keys(resolvers) as Entry[])('%s: every option set to undefined resolves as if left out', (entry) => {
    const resolve = resolvers[entry];
    const base = entry === 'attachSystemStream' ? { auth: false } : {};
    const names = Object.keys(resolve({})).filter((k) => !(k in base));
    const allUndefined = Object.fromEntries(names.map((k) => [k, undefined]));
    // Resolved option names that are not option names (authRequired, channels) are not passed in.
    const known = Object.fromEntries(Object.entries(allUndefined).filter(([k]) => k !== 'authRequired' && k !== 'channels'));
    expect(resolve(known)).toEqual(resolve({}));
  });

  it.each(Object.keys(resolvers) as Entry[])('%s: rejects options that are not an object', (entry) => {
    for (const value of [null, 42, 'redis://x', [1]]) {
      const run = entry === 'attachSystemStream' ? () => resolveOptions(value as never) : () => resolvers[entry](value as never);
      expect(invalid(run).message).toMatch(new RegExp(`^Expected the options of ${entry} to be an object`));
    }
  });

  it.each(Object.keys(resolvers) as Entry[])('%s: rejects a logger without the four methods and defaults to the silent one', (entry) => {
    expect(invalid(() => resolvers[entry]({ logger: { info() {} } })).message).toMatch(/`logger`/);
    expect(resolvers[entry]({})['logger']).toBe(noopLogger);
  });

  describe.each(BAD_REDIS_URLS)('a Redis URL with %s', (_what, url, reason) => {
    const entries: [string, () => unknown][] = [
      ['attachSystemStream', () => resolveOptions({ auth: false, redis: url })],
      ['createSystemPublisher', () => resolvePublisherOptions({ redis: url })],
      ['startSentinel', () => startSentinel({ redis: url })],
    ];
    it.each(entries)('%s refuses it by option name, and no rendering of the error holds the password', (_entry, run) => {
      const err = invalid(run);
      expect(err.message).toMatch(/^Expected `redis` to be a redis:\/\/ or rediss:\/\/ URL that ioredis can open, but /);
      expect(err.message).toMatch(reason);
      expect(err.cause).toBeUndefined();
      expect(everyRendering(err)).not.toContain('hunter2');
    });
  });

  it('takes REDIS_URL at the time of the call, else the local default', () => {
    expect(defaultRedis({})).toBe(DEFAULT_REDIS_URL);
    expect(defaultRedis({ REDIS_URL: 'redis://127.0.0.3:2' })).toBe('redis://127.0.0.3:2');
    expect(resolveOptions({ auth: false }).channel).toBe(DEFAULT_CHANNEL);
    expect(resolvePublisherOptions({}).channel).toBe(DEFAULT_CHANNEL);
  });
});

describe('option kit', () => {
  describe('integerMs', () => {
    it('accepts 0 where the caller allows it (an option that 0 turns off)', () => {
      expect(integerMs('throttleMs', 0, { min: 0 })).toBe(0);
      expect(invalid(() => integerMs('heartbeatIntervalMs', 0, { min: 10 })).message).toBe(
        'Expected `heartbeatIntervalMs` to be an integer from 10 to 2147483647 (milliseconds), got 0',
      );
    });
    it('never lets a caller raise the limit past what a timer can wait', () => {
      expect(invalid(() => integerMs('x', MAX_TIMER_MS + 1, { min: 0, max: Number.MAX_SAFE_INTEGER })).message).toMatch(
        /from 0 to 2147483647/,
      );
    });
  });

  describe('integerOption and numberOption', () => {
    it.each([
      [() => integerOption('maxClients', Infinity, { min: 1 }), 'Expected `maxClients` to be an integer >= 1, got Infinity'],
      [() => integerOption('maxClients', 2 ** 53, { min: 1 }), 'Expected `maxClients` to be an integer >= 1, got 9007199254740992'],
      [() => integerOption('port', 70_000, { min: 1, max: 65_535 }), 'Expected `port` to be an integer from 1 to 65535, got 70000'],
      [() => numberOption('hysteresis', Infinity, { min: 0 }), 'Expected `hysteresis` to be a finite number >= 0, got Infinity'],
      [() => numberOption('hysteresis', Number.NaN, { min: 0 }), 'Expected `hysteresis` to be a finite number >= 0, got NaN'],
      [() => numberOption('hysteresis', '5', { min: 0 }), 'Expected `hysteresis` to be a finite number >= 0, got "5"'],
      [() => numberOption('hysteresis', 10n, { min: 0 }), 'Expected `hysteresis` to be a finite number >= 0, got 10n'],
      [
        () => numberOption('hysteresis', { valueOf: () => 5 }, { min: 0 }),
        'Expected `hysteresis` to be a finite number >= 0, got an object',
      ],
    ])('%#: %s', (run, message) => {
      expect(invalid(run).message).toBe(message);
    });
    it('accepts finite numbers in range', () => {
      expect(numberOption('x', 0.25, { min: 0 })).toBe(0.25);
      expect(integerOption('x', 3, { min: 1, max: 3 })).toBe(3);
    });
  });

  describe('redisOption', () => {
    it.each(['redis://127.0.0.1:1', 'rediss://user:p%40ss@127.0.0.1:2/2', 'redis://[::1]:1', 'REDIS://localhost', 'redis://'])(
      'accepts %s',
      (url) => {
        expect(redisOption(url, 'subscriber')).toBe(url);
      },
    );
    it('asks a host client for the method its role needs', () => {
      const publishOnly = { publish: async () => 0 };
      expect(redisOption(publishOnly, 'publisher')).toBe(publishOnly);
      expect(invalid(() => redisOption(publishOnly, 'subscriber')).message).toMatch(/an object with duplicate\(\)/);
      expect(invalid(() => redisOption({ duplicate() {} }, 'publisher')).message).toMatch(/an object with publish\(\)/);
      expect(invalid(() => redisOption(6379, 'publisher')).message).toMatch(/`redis`/);
    });
    it('names the option as the caller does (a CLI flag)', () => {
      expect(invalid(() => redisOption('redis://:pw@[::1', 'publisher', '--redis / REDIS_URL')).message).toMatch(
        /^Expected `--redis \/ REDIS_URL` to be/,
      );
    });
  });

  describe('refuseUnknownKeys', () => {
    it('names the entry and suggests only a close name', () => {
      expect(invalid(() => refuseUnknownKeys({ hysterisis: 1 }, ['warning', 'critical', 'hysteresis'], '`thresholds.cpu`')).message).toBe(
        'Unknown option `hysterisis` of `thresholds.cpu`; did you mean `hysteresis`?',
      );
      expect(() => refuseUnknownKeys({ warning: 1 }, ['warning'], 'x')).not.toThrow();
    });
    it('cuts a very long unknown name in the message', () => {
      expect(invalid(() => refuseUnknownKeys({ ['k'.repeat(500)]: 1 }, ['a'], 'x')).message.length).toBeLessThan(100);
    });
  });

  describe('closestName and editDistance', () => {
    it.each([
      ['maxClients', 'maxClients', 0],
      ['maxClient', 'maxClients', 1],
      ['maxClinets', 'maxClients', 1], // a swap of two neighbours counts once
      ['kitten', 'sitting', 3],
      ['', 'abc', 3],
      ['abc', '', 3],
    ])('editDistance(%s, %s) = %i', (a, b, d) => {
      expect(editDistance(a, b)).toBe(d);
    });
    it('suggests nothing when no name is close', () => {
      expect(closestName('logLevel', ['logger', 'redis'])).toBeUndefined();
      expect(closestName('x', ['redis'])).toBeUndefined();
      expect(closestName('THROTTLEMS', ['throttleMs'])).toBe('throttleMs');
    });
  });

  it('oneOf names the choices', () => {
    expect(oneOf('level', 'info', ['debug', 'info'] as const)).toBe('info');
    expect(invalid(() => oneOf('level', 'loud', ['debug', 'info'])).message).toBe('Expected `level` to be one of debug, info, got "loud"');
  });

  it('stringList copies and freezes, never echoing an element', () => {
    const input = ['a', 'b'];
    const out = stringList('apiKeys', input);
    expect(out).toEqual(['a', 'b']);
    expect(out).not.toBe(input);
    expect(Object.isFrozen(out)).toBe(true);
    expect(stringList('apiKeys', undefined)).toBeUndefined();
    expect(invalid(() => stringList('apiKeys', ['s3cret', ''])).message).not.toContain('s3cret');
  });

  it('loggerOption takes a pino-like logger as it is', () => {
    const logger = { debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
    expect(loggerOption(logger)).toBe(logger);
    expect(loggerOption(undefined)).toBe(noopLogger);
    expect(invalid(() => loggerOption(null)).message).toMatch(/`logger`/);
  });
});

describe('channelList', () => {
  it('takes one channel or a list of distinct ones, and refuses the rest by name', async () => {
    const { channelList } = await import('../../../src/shared/option-kit.js');
    expect(channelList('channel', 'a')).toEqual(['a']);
    expect(channelList('channel', ['a', 'b'])).toEqual(['a', 'b']);
    expect(Object.isFrozen(channelList('channel', ['a']))).toBe(true);
    for (const bad of ['', [], [''], ['a', 1], 7, null])
      expect(invalid(() => channelList('channel', bad)).message).toMatch(
        /^Expected `channel` to be a non-empty string or a non-empty array/,
      );
    expect(invalid(() => channelList('channel', ['a', 'b', 'a'])).message).toBe(
      'Expected the channels in `channel` to be distinct, got "a" twice',
    );
  });
});

describe('option: sharded', () => {
  const cluster = (shardedSubscribers?: boolean) => ({
    isCluster: true,
    options: { shardedSubscribers },
    duplicate() {},
    publish: async () => 0,
  });

  it('is false unless set, and must be a boolean', () => {
    expect(resolveOptions({ auth: false }).sharded).toBe(false);
    expect(resolvePublisherOptions({}).sharded).toBe(false);
    expect(invalid(() => resolveOptions({ auth: false, sharded: 'yes' as never })).message).toBe(
      'Expected `sharded` to be true or false, got "yes"',
    );
  });

  it('refuses a Cluster without shardedSubscribers for the stream, not for the publisher', () => {
    expect(invalid(() => resolveOptions({ auth: false, redis: cluster() as never, sharded: true })).message).toMatch(
      /shardedSubscribers: true/,
    );
    expect(resolveOptions({ auth: false, redis: cluster(true) as never, sharded: true }).sharded).toBe(true);
    // SPUBLISH is routed like any keyed command: publishing needs no sharded subscribers.
    expect(resolvePublisherOptions({ redis: cluster() as never, sharded: true }).sharded).toBe(true);
  });

  it('refuses a client without the sharded commands (the in-process bus)', async () => {
    const { createInProcessBus } = await import('../../../src/redis/in-process-bus.js');
    const bus = createInProcessBus();
    expect(invalid(() => resolveOptions({ auth: false, redis: bus, sharded: true })).message).toMatch(
      /needs a Redis client with ssubscribe\(\)/,
    );
    expect(invalid(() => resolvePublisherOptions({ redis: bus, sharded: true })).message).toMatch(/needs a Redis client with spublish\(\)/);
    expect(resolveOptions({ auth: false, redis: 'redis://127.0.0.1:1', sharded: true }).sharded).toBe(true);
  });
});
