import { describe, expect, it } from 'vitest';
import { createJsonLogger } from '../../../src/sentinel/json-logger.js';

const AT = new Date('2026-01-17T04:30:00.000Z');

function capture(enabled: (level: string) => boolean = () => true): { lines: string[]; logger: ReturnType<typeof createJsonLogger> } {
  const lines: string[] = [];
  return {
    lines,
    logger: createJsonLogger(
      enabled,
      (line) => void lines.push(line),
      () => AT,
    ),
  };
}

describe('createJsonLogger', () => {
  it('writes one JSON object per line: level, time, msg first, then the fields with their event', () => {
    const { lines, logger } = capture();
    logger.info({ event: 'redis_up', channel: 'system:metrics' }, 'redis subscription restored');
    logger.warn({}, undefined);
    expect(lines).toEqual([
      '{"level":"info","time":"2026-01-17T04:30:00.000Z","msg":"redis subscription restored","event":"redis_up","channel":"system:metrics"}\n',
      '{"level":"warn","time":"2026-01-17T04:30:00.000Z","msg":""}\n',
    ]);
  });

  it('keeps only message and code of an error, wherever it is, and never lets a field replace level, time or msg', () => {
    const { lines, logger } = capture();
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', options: { password: 'hunter2' } });
    logger.error({ err, nested: { cause: new Error('inner') }, level: 'fake', time: 'never', msg: 'spoofed' }, 'publishing failed');
    expect(JSON.parse(lines[0] as string)).toEqual({
      level: 'error',
      time: '2026-01-17T04:30:00.000Z',
      msg: 'publishing failed',
      err: { message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' },
      nested: { cause: { message: 'inner' } },
    });
    expect(lines[0]).not.toContain('hunter2');
  });

  it('writes a line that says so instead of throwing for fields JSON cannot hold', () => {
    const { lines, logger } = capture();
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    expect(() => logger.info({ cycle, big: 1n }, 'odd')).not.toThrow();
    expect(JSON.parse(lines[0] as string)).toEqual({
      level: 'info',
      time: '2026-01-17T04:30:00.000Z',
      msg: 'odd',
      logError: 'fields not serializable as JSON',
    });
  });

  it('writes only the levels that are enabled', () => {
    const { lines, logger } = capture((level) => level === 'warn' || level === 'error');
    logger.debug({}, 'a');
    logger.info({}, 'b');
    logger.warn({}, 'c');
    logger.error({}, 'd');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['c', 'd']);
  });
});
