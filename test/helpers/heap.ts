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
