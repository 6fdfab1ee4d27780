import { describe, expect, it } from 'vitest';
import type { SystemStreamError } from '../../../src/shared/errors.js';
import { startSentinel } from '../../../src/sentinel/sentinel.js';
import { resolveSentinelOptions } from '../../../src/sentinel/sentinel-options.js';
import type { SystemSample } from '../../../src/sentinel/sample.js';

// The options the procfs sampler and the CLI's publishing flags brought: dockerSocket, sharded, historyStream.

const publisher = { publish: async () => 1 };
const sampler = async (): Promise<SystemSample> => {
  throw new Error('not sampled in these tests');
};

function refusal(options: object): SystemStreamError {
  try {
    startSentinel(options as never);
  } catch (err) {
    return err as SystemStreamError;
  }
  throw new Error('startSentinel accepted the options');
}

describe('startSentinel options: dockerSocket, sharded, historyStream', () => {
  it('takes dockerSocket as given, else DOCKER_HOST when it is unix://', () => {
    expect(resolveSentinelOptions({ dockerSocket: '/run/podman/podman.sock' }).dockerSocket).toBe('/run/podman/podman.sock');
    const saved = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = 'unix:///run/user/1000/docker.sock';
    try {
      expect(resolveSentinelOptions({}).dockerSocket).toBe('/run/user/1000/docker.sock');
    } finally {
      if (saved === undefined) delete process.env['DOCKER_HOST'];
      else process.env['DOCKER_HOST'] = saved;
    }
  });

  it.each([
    ['an empty dockerSocket', { publisher, dockerSocket: '' }, /`dockerSocket`/],
    ['a dockerSocket that is not a string', { publisher, dockerSocket: 42 }, /`dockerSocket`/],
    ['dockerSocket with a sampler of your own', { publisher, sampler, dockerSocket: '/x.sock' }, /either `sampler` or `dockerSocket`/],
    ['sharded next to a publisher', { publisher, sharded: true }, /either `publisher` or `redis`\/`channel`\/`sharded`\/`historyStream`/],
    ['historyStream next to a publisher', { publisher, historyStream: true }, /either `publisher` or/],
    ['a misspelt dockerSocket', { publisher, dockerSokcet: '/x.sock' }, /did you mean `dockerSocket`\?/],
    ['a historyStream that is neither true, false nor a key', { redis: 'redis://127.0.0.1:1', historyStream: '' }, /`historyStream`/],
  ])('refuses %s with SST_ERR_INVALID_OPTION', (_what, options, message) => {
    const err = refusal(options);
    expect(err.code).toBe('SST_ERR_INVALID_OPTION');
    expect(err.message).toMatch(message);
  });
});
