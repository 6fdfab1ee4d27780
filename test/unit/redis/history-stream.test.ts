import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { noopLogger } from '../../../src/shared/logger.js';
import { fromHistoryChannel, type HistoryMessage, type StreamReader } from '../../../src/redis/history-stream.js';

const CHANNEL = 'system:metrics';
const NOW = 1_000_000;

/** A subscriber connection that confirms every SUBSCRIBE and lets the test deliver messages and drop it. */
class FakeSubscriber extends EventEmitter {
  status = 'ready';
  subscribe = vi.fn(async () => 1);
  unsubscribe = vi.fn(async () => 0);
  deliver(text: string): void {
    this.emit('messageBuffer', Buffer.from(CHANNEL), Buffer.from(text));
  }
  drop(): void {
    this.status = 'reconnecting';
    this.emit('close');
  }
  back(): void {
    this.status = 'ready';
    this.emit('ready');
  }
}

type Entries = [string, string[]][];

/** A reader whose XRANGE calls the test answers one by one, oldest first. */
class FakeReader implements StreamReader {
  readonly calls: { start: string; end: string; resolve: (entries: Entries) => void; reject: (err: Error) => void }[] = [];
  /** Every XRANGE ever made, as `start..end`. */
  readonly log: string[] = [];
  xrange(_key: string, start: string, end: string): Promise<Entries> {
    this.log.push(`${start}..${end}`);
    return new Promise((resolve, reject) => this.calls.push({ start, end, resolve, reject }));
  }
  answer(entries: Entries): void {
    const call = this.calls.shift();
    if (!call) throw new Error('no XRANGE pending');
    call.resolve(entries);
  }
  fail(message: string): void {
    this.calls.shift()?.reject(new Error(message));
  }
  /** Answers the load's look at the stream's first entry, then the load itself. */
  async load(first: Entries, entries: Entries): Promise<void> {
    expect(this.calls[0]?.start).toBe('-');
    this.answer(first);
    await flush();
    this.answer(entries);
    await flush();
  }
}

const entry = (id: string, text: string): [string, string[]] => [id, ['m', text]];

function setup(options: { confirmEveryMs?: number; maxClockSkewMs?: number } = {}) {
  const sub = new FakeSubscriber();
  const reader = new FakeReader();
  const seen: string[] = [];
  const events = { onSubscribed: vi.fn(), onRefused: vi.fn(), onRead: vi.fn(), onGap: vi.fn(), onIgnoredStamp: vi.fn() };
  const subscription = fromHistoryChannel(
    sub,
    reader,
    CHANNEL,
    {
      streamKey: 'k',
      historyMs: 60_000,
      logger: noopLogger,
      now: () => NOW,
      confirmEveryMs: options.confirmEveryMs ?? 1e9,
      ...(options.maxClockSkewMs === undefined ? {} : { maxClockSkewMs: options.maxClockSkewMs }),
    },
    events,
  ).subscribe((m: HistoryMessage) => seen.push(`${m.isRecovered ? 'read' : 'live'} ${m.payload.toString()}`));
  return { sub, reader, seen, events, subscription };
}

const flush = (): Promise<void> => vi.advanceTimersByTimeAsync(0).then(() => undefined);

describe('fromHistoryChannel', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('loads the last historyMs first, holding live messages until then, and skips the stamped ones it read', async () => {
    const { sub, reader, seen, events } = setup();
    await flush();
    sub.deliver('5-0 {"b":1}'); // published after SUBSCRIBE: in the stream too
    sub.deliver('6-0 {"c":1}');
    expect(seen).toEqual([]);
    await reader.load([entry('1-0', '{}')], [entry('4-0', '{"a":1}'), entry('5-0', '{"b":1}')]);
    expect(reader.log).toEqual(['-..+', '940000-0..+']); // now - historyMs, inclusive
    expect(seen).toEqual(['read {"a":1}', 'read {"b":1}', 'live {"c":1}']);
    expect(events.onRead).toHaveBeenCalledWith(2, true, 940_000);
    sub.deliver('7-0 {"d":1}');
    expect(seen.slice(3)).toEqual(['live {"d":1}']);
    expect(events.onGap).not.toHaveBeenCalled();
  });

  it('after a reconnect looks up the last stamp received live, then reads on from it (inclusive, skipped), each message once', async () => {
    const { sub, reader, seen, events } = setup();
    await flush();
    await reader.load([], []);
    sub.deliver('10-0 {"x":1}');
    sub.drop();
    sub.back();
    await flush();
    expect(reader.log.slice(2)).toEqual(['10-0..10-0']); // is the stamp really in the stream?
    reader.answer([entry('10-0', '{"x":1}')]);
    await flush();
    expect(reader.log.slice(3)).toEqual(['10-0..+']);
    sub.deliver('13-0 {"z":1}');
    reader.answer([entry('10-0', '{"x":1}'), entry('11-0', '{"y":1}'), entry('12-0', '{"y":2}'), entry('13-0', '{"z":1}')]);
    await flush();
    expect(seen).toEqual(['live {"x":1}', 'read {"y":1}', 'read {"y":2}', 'read {"z":1}']);
    expect(events.onRead).toHaveBeenLastCalledWith(3, false, 940_000);
    expect(events.onSubscribed).toHaveBeenCalledTimes(2);
    expect(events.onGap).not.toHaveBeenCalled();
  });

  it('never reads with an exclusive start, which Redis 6.0 refuses', async () => {
    const { sub, reader } = setup();
    await flush();
    await reader.load(
      [],
      Array.from({ length: 1000 }, (_, i) => entry(`${i + 1}-0`, '{}')),
    );
    reader.answer([entry('1000-0', '{}'), entry('1001-0', '{}')]); // the second page starts at the last one read
    await flush();
    sub.drop();
    sub.back();
    await flush();
    reader.answer([entry('1001-0', '{}')]);
    await flush();
    expect(reader.log).toEqual(['-..+', '940000-0..+', '1000-0..+', '1001-0..+']);
    expect(reader.log.some((range) => range.startsWith('('))).toBe(false);
  });

  describe('stamps received live move nothing', () => {
    it('a forged stamp far in the future is ignored (counted) and hides none of the messages after it', async () => {
      const { sub, reader, seen, events } = setup();
      await flush();
      await reader.load([], [entry('900000-0', '{"a":1}')]);
      sub.deliver('9999999999999999-0 {"forged":1}');
      sub.deliver('950000-0 {"b":1}');
      sub.deliver('950001-0 {"c":1}');
      expect(seen).toEqual(['read {"a":1}', 'live {"forged":1}', 'live {"b":1}', 'live {"c":1}']);
      expect(events.onIgnoredStamp).toHaveBeenCalledWith('9999999999999999-0');
      // The stream does not hold that message: the load said complete without it.
      expect(events.onGap).toHaveBeenCalledTimes(1);
    });

    it('allows stamps at least a minute ahead whatever maxClockSkewMs says (Redis dates them, not the producers)', async () => {
      const { sub, reader, events } = setup({ maxClockSkewMs: 0 });
      await flush();
      await reader.load([], []);
      sub.deliver(`${NOW + 60_000}-0 {"a":1}`);
      expect(events.onIgnoredStamp).not.toHaveBeenCalled();
      sub.deliver(`${NOW + 60_001}-0 {"b":1}`);
      expect(events.onIgnoredStamp).toHaveBeenCalledTimes(1);
    });

    it('a plausible forged stamp neither hides later messages nor moves where the catch-up starts', async () => {
      const { sub, reader, seen, events } = setup();
      await flush();
      await reader.load([], [entry('900000-0', '{"a":1}')]);
      sub.deliver('1000100-0 {"forged":1}'); // 100 ms ahead: plausible
      sub.deliver('950000-0 {"b":1}');
      sub.drop();
      sub.back();
      await flush();
      expect(reader.log.slice(2)).toEqual(['1000100-0..1000100-0', '950000-0..950000-0']);
      reader.answer([]); // not in the stream
      reader.answer([entry('950000-0', '{"b":1}')]);
      await flush();
      expect(reader.log.slice(4)).toEqual(['950000-0..+']);
      reader.answer([entry('950000-0', '{"b":1}'), entry('960000-0', '{"missed":1}')]);
      await flush();
      expect(seen).toEqual(['read {"a":1}', 'live {"forged":1}', 'live {"b":1}', 'read {"missed":1}']);
      expect(events.onGap).toHaveBeenCalledTimes(1); // a stamp not in the stream: its producer's messages meanwhile are not either
    });

    it('a stream whose IDs went backwards (recreated) still delivers, and the catch-up follows it', async () => {
      const { sub, reader, seen, events } = setup();
      await flush();
      await reader.load([], [entry('990000-0', '{"old":1}')]);
      sub.deliver('500-0 {"new":1}'); // the stream was deleted and written again
      sub.deliver('501-0 {"new":2}');
      sub.drop();
      sub.back();
      await flush();
      reader.answer([entry('501-0', '{"new":2}')]); // 501-0 is in the stream
      reader.answer([entry('500-0', '{"new":1}')]);
      await flush();
      expect(reader.log.at(-1)).toBe('990000-0..990000-0'); // older than readMark: is readMark still there?
      reader.answer([]);
      await flush();
      expect(reader.log.at(-1)).toBe('501-0..+');
      reader.answer([entry('501-0', '{"new":2}'), entry('502-0', '{"new":3}')]);
      await flush();
      expect(seen).toEqual(['read {"old":1}', 'live {"new":1}', 'live {"new":2}', 'read {"new":3}']);
      expect(events.onGap).not.toHaveBeenCalled();
    });

    it('an old stamp sent again does not move the catch-up back while the last entry read is still there', async () => {
      const { sub, reader, seen } = setup();
      await flush();
      await reader.load([], [entry('900000-0', '{"a":1}'), entry('900001-0', '{"b":1}')]);
      sub.deliver('900000-0 {"a":1}'); // a replay: read already, dropped
      sub.deliver('800000-0 {"old":1}'); // a replay of something older than the load
      sub.drop();
      sub.back();
      await flush();
      reader.answer([entry('800000-0', '{"old":1}')]);
      await flush();
      reader.answer([entry('900001-0', '{"b":1}')]); // readMark still there
      await flush();
      expect(reader.log.at(-1)).toBe('900001-0..+');
      reader.answer([entry('900001-0', '{"b":1}')]);
      await flush();
      expect(seen).toEqual(['read {"a":1}', 'read {"b":1}', 'live {"old":1}']);
    });
  });

  it('a catch-up that starts before messages delivered live (their stamps lost with a Redis restart) does not repeat them', async () => {
    const { sub, reader, seen } = setup();
    await flush();
    await reader.load([], []);
    for (const id of ['10-0', '11-0', '12-0']) sub.deliver(`${id} {"v":"${id}"}`);
    sub.drop();
    sub.back();
    await flush();
    for (let i = 0; i < 3; i++) reader.answer([]); // none of the three is in the stream any more
    await flush();
    expect(reader.log.at(-1)).toBe('940000-0..+');
    reader.answer([entry('11-0', '{"v":"11-0"}'), entry('13-0', '{"v":"13-0"}')]);
    await flush();
    expect(seen).toEqual(['live {"v":"10-0"}', 'live {"v":"11-0"}', 'live {"v":"12-0"}', 'read {"v":"13-0"}']);
  });

  it('an ID that another stream handed out too (same millisecond) is not taken for the same message', async () => {
    const { sub, reader, seen } = setup();
    await flush();
    await reader.load([], []);
    sub.deliver('20-0 {"theirs":1}'); // another history key: the same ID
    sub.drop();
    sub.back();
    await flush();
    reader.answer([]);
    await flush();
    sub.deliver('20-0 {"mine":1}'); // held: ours, in the stream too
    reader.answer([entry('20-0', '{"mine":1}')]);
    await flush();
    expect(seen).toEqual(['live {"theirs":1}', 'read {"mine":1}']);
  });

  describe('completeness', () => {
    it('stamps of another stream on the channel are delivered, found foreign by a lookup, and every later catch-up reports a gap', async () => {
      const { sub, reader, seen, events } = setup({ confirmEveryMs: 100 });
      await flush();
      await reader.load([entry('1-0', '{}')], [entry('900000-0', '{"mine":1}')]);
      sub.deliver('950000-0 {"mine":2}');
      sub.deliver('950000-1 {"theirs":1}'); // another publisher, another stream key
      sub.deliver('950001-0 {"theirs":2}');
      expect(seen).toEqual(['read {"mine":1}', 'live {"mine":2}', 'live {"theirs":1}', 'live {"theirs":2}']);
      await vi.advanceTimersByTimeAsync(100);
      expect(reader.log.slice(2)).toEqual(['950000-0..950000-0', '950000-1..950000-1', '950001-0..950001-0']);
      reader.answer([entry('950000-0', '{"mine":2}')]);
      reader.answer([]);
      reader.answer([]);
      await flush();
      expect(reader.log.at(-1)).toBe('-..+'); // newer than the stream's first entry: not trimmed, foreign
      reader.answer([entry('1-0', '{}')]);
      await flush();
      expect(events.onGap).toHaveBeenCalledTimes(1);
      sub.drop();
      sub.back();
      await flush();
      expect(reader.log.at(-1)).toBe('950000-0..+'); // from the confirmed stamp
      reader.answer([entry('950000-0', '{"mine":2}')]);
      await flush();
      expect(events.onGap).toHaveBeenCalledTimes(2); // their messages sent meanwhile are lost
    });

    it('plain PUBLISH messages make the load and every later catch-up report a gap', async () => {
      const { sub, reader, events } = setup();
      await flush();
      await reader.load([], []);
      expect(events.onGap).not.toHaveBeenCalled();
      sub.deliver('{"plain":1}');
      expect(events.onGap).toHaveBeenCalledTimes(1);
      sub.drop();
      sub.back();
      await flush();
      reader.answer([]);
      await flush();
      expect(events.onGap).toHaveBeenCalledTimes(2);
    });

    it('reports a gap when the stream no longer holds the entry the catch-up starts at (trimmed meanwhile)', async () => {
      const { sub, reader, seen, events } = setup();
      await flush();
      await reader.load([], [entry('900000-0', '{"a":1}')]);
      sub.drop();
      sub.back();
      await flush();
      reader.answer([entry('990000-0', '{"z":1}')]);
      await flush();
      expect(seen).toEqual(['read {"a":1}', 'read {"z":1}']);
      expect(events.onGap).toHaveBeenCalledTimes(1);
    });

    it('claims the load complete only from the first entry of a stream that does not reach back historyMs', async () => {
      const { reader, events } = setup();
      await flush();
      await reader.load([entry('970000-0', '{}')], [entry('970000-0', '{}')]);
      expect(events.onRead).toHaveBeenCalledWith(1, true, 970_000);
    });

    it('claims nothing for an empty stream', async () => {
      const { reader, events } = setup();
      await flush();
      await reader.load([], []);
      expect(events.onRead).toHaveBeenCalledWith(0, true, Infinity);
    });
  });

  it('gives up a read in flight when the subscriber drops again, and reads on from the last ID at the next SUBSCRIBE', async () => {
    const { sub, reader, seen } = setup();
    await flush();
    await reader.load([], [entry('1-0', '{"a":1}')]);
    sub.drop();
    sub.back();
    await flush();
    sub.drop(); // before the read answered
    reader.answer([entry('1-0', '{"a":1}'), entry('2-0', '{"late":1}')]); // the abandoned read: counts for nothing
    sub.back();
    await flush();
    expect(reader.calls.map((c) => c.start)).toEqual(['1-0']);
    reader.answer([entry('1-0', '{"a":1}'), entry('2-0', '{"b":1}')]);
    await flush();
    expect(seen).toEqual(['read {"a":1}', 'read {"b":1}']);
  });

  it('retries a failed read, then reports a gap and resumes live data without it', async () => {
    const { sub, reader, seen, events } = setup();
    await flush();
    sub.deliver('{"held":1}');
    for (let attempt = 1; attempt <= 5; attempt++) {
      reader.fail('NOPERM');
      await vi.advanceTimersByTimeAsync(100 * 2 ** attempt);
    }
    expect(events.onRead).toHaveBeenCalledWith(0, true, Infinity); // the load at start did not happen
    expect(seen).toEqual(['live {"held":1}']);
    sub.deliver('{"next":1}');
    expect(seen).toEqual(['live {"held":1}', 'live {"next":1}']);
    // The read that failed, and the plain messages (not in the stream), each made the history incomplete.
    expect(events.onGap).toHaveBeenCalledTimes(2);
  });

  it('unsubscribes and stops reading on teardown', async () => {
    const { sub, reader, subscription } = setup();
    await flush();
    subscription.unsubscribe();
    reader.answer([entry('1-0', '{}')]);
    await flush();
    expect(sub.unsubscribe).toHaveBeenCalledWith(CHANNEL);
    expect(sub.listenerCount('close')).toBe(0);
    expect(sub.listenerCount('messageBuffer')).toBe(0);
  });
});
