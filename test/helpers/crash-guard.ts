import { afterEach, beforeEach, expect } from 'vitest';

/**
 * Fails each test in which anything reaches process-level `'unhandledRejection'` or `'uncaughtException'`:
 * what would end a host process that runs with Node's defaults.
 */
export function failOnProcessCrash(): void {
  let caught: string[] = [];
  const record = (err: unknown): void => void caught.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  beforeEach(() => {
    caught = [];
    process.on('unhandledRejection', record);
    process.on('uncaughtException', record);
  });
  afterEach(() => {
    process.off('unhandledRejection', record);
    process.off('uncaughtException', record);
    expect(caught, 'unhandled rejections or uncaught exceptions').toEqual([]);
  });
}
