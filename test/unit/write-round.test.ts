import { describe, expect, it } from 'vitest';
import { WriteRound, type RoundWriter } from '../../src/write-round.js';

function writers(log: string[], names: readonly string[]): RoundWriter<string>[] {
  return names.map((name) => ({ write: (batch) => log.push(`${name}:${batch}`) }));
}

describe('WriteRound', () => {
  it('makes the writes deferred during a broadcast only after it, back to back and in order', () => {
    const round = new WriteRound<string>();
    const log: string[] = [];
    const [a, b] = writers(log, ['a', 'b']) as [RoundWriter<string>, RoundWriter<string>];
    round.run(() => {
      expect(round.defer(a, '1')).toBe(true);
      expect(round.defer(b, '1')).toBe(true);
      expect(round.defer(a, '2')).toBe(true);
      log.push('end of broadcast');
    });
    expect(log).toEqual(['end of broadcast', 'a:1', 'b:1', 'a:2']);
  });

  it('declines outside a round, so the caller writes at once', () => {
    const round = new WriteRound<string>();
    const log: string[] = [];
    const [a] = writers(log, ['a']) as [RoundWriter<string>];
    expect(round.defer(a, '1')).toBe(false);
    round.run(() => {});
    expect(log).toEqual([]);
  });

  it('a round started inside a round joins it: its writes come after the outer broadcast', () => {
    const round = new WriteRound<string>();
    const log: string[] = [];
    const [a] = writers(log, ['a']) as [RoundWriter<string>];
    round.run(() => {
      round.defer(a, '1');
      round.run(() => round.defer(a, '2'));
      log.push('end of broadcast');
    });
    expect(log).toEqual(['end of broadcast', 'a:1', 'a:2']);
  });

  it('a throwing broadcast still flushes what it deferred, and a throwing write leaves the round empty', () => {
    const round = new WriteRound<string>();
    const log: string[] = [];
    const [a] = writers(log, ['a']) as [RoundWriter<string>];
    expect(() =>
      round.run(() => {
        round.defer(a, '1');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(log).toEqual(['a:1']);
    const failing: RoundWriter<string> = {
      write: () => {
        throw new Error('write failed');
      },
    };
    expect(() => round.run(() => round.defer(failing, 'x'))).toThrow('write failed');
    round.run(() => round.defer(a, '2'));
    expect(log).toEqual(['a:1', 'a:2']);
  });
});
