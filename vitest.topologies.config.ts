import { defineConfig } from 'vitest/config';

// `npm run test:topologies`: the tests that start whole Redis topologies (a 6-node Cluster, a primary with
// a replica and 3 Sentinels, several stream processes) and kill their nodes. They take minutes, so the
// default config leaves them out; .ci/run runs both.
export default defineConfig({
  test: {
    include: ['test/topologies/**/*.test.ts'],
    // Every frame a test client receives is checked against asyncapi.yaml.
    setupFiles: ['test/helpers/conformance-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One file at a time: failover timings (a replica promoted ~2 s after a kill) are part of what the
    // tests check, and a second cluster forming on two shared cores would skew them.
    maxWorkers: 1,
    fileParallelism: false,
  },
});
