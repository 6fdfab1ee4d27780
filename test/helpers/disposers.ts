/**
 * Cleanup steps of one test, run newest first by `runAll()`. Every step runs even when an earlier one
 * throws (a test's servers must close even if a node would not come back), then the first error is thrown.
 */
export function createDisposers(): { add(dispose: () => unknown): void; runAll(): Promise<void> } {
  const steps: (() => unknown)[] = [];
  return {
    add: (dispose) => void steps.push(dispose),
    async runAll() {
      const errors: unknown[] = [];
      for (const dispose of steps.splice(0).reverse()) {
        try {
          await dispose();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length > 0) throw errors[0];
    },
  };
}
