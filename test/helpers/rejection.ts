import { expect, vi } from 'vitest';
import { SystemStreamError } from '../../src/shared/errors.js';

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

/** Whether `promise` has settled after the microtasks queued so far have run (under vitest's fake timers). */
export async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await vi.advanceTimersByTimeAsync(0);
  return settled;
}
