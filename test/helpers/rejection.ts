import { expect } from 'vitest';
import { SystemStreamError } from '../../src/errors.js';

/** Awaits `promise`, expects it to reject with a SystemStreamError, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<SystemStreamError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SystemStreamError);
    return err as SystemStreamError;
  }
  throw new Error('expected a rejection');
}
