/**
 * Heap used after two full collections, in bytes. Needs `--expose-gc`, which vitest.config.ts passes to
 * every test worker (execArgv).
 */
export function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc (vitest.config.ts sets it for the test workers)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Memory the process holds after two full collections, in bytes: the JS heap plus memory outside it
 * (`external`: Buffers, such as the bytes queued on sockets). Needs `--expose-gc`, like {@link heapAfterGc}.
 */
export function memoryAfterGc(): number {
  heapAfterGc();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}
