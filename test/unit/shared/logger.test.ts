import { describe, expect, it } from 'vitest';
import { createRateLimitedLog } from '../../../src/shared/logger.js';

describe('createRateLimitedLog', () => {
  it('logs the first event, then one summary per interval with the number suppressed', () => {
    let now = 0;
    const lines: object[] = [];
    const log = createRateLimitedLog(
      (obj) => lines.push(obj),
      'dropped',
      1000,
      () => now,
    );
    for (let i = 0; i < 500; i++) {
      log({ i });
      now += 5; // 500 events over 2.5 s
    }
    expect(lines).toEqual([{ i: 0 }, { i: 200, suppressed: 199 }, { i: 400, suppressed: 199 }]);
  });
});
