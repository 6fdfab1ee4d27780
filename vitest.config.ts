import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/browser/**/*.test.ts'],
    // Every frame a test client receives is checked against asyncapi.yaml.
    setupFiles: ['test/helpers/conformance-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Memory tests measure the heap after a full collection (test/helpers/heap.ts).
    execArgv: ['--expose-gc'],
    // Integration tests start their own redis-server processes and sockets; two cores can run two files at once.
    maxWorkers: 2,
  },
});
