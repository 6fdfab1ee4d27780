import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { noopLogger } from '../../../src/shared/logger.js';
import { fromHistoryChannel, type HistoryMessage, type StreamReader } from '../../../src/redis/history-stream.js';

const CHANNEL = 'system:metrics';

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

/** A reader whose XRANGE calls the test answers one by one. */
class FakeReader implements StreamReader {
  readonly calls: { start: string; resolve: (entries: [string, string[]][]) => void; reject: (err: Error) => void }[] = [];
  xrange(_key: string, start: string): Promise<[string, string[]][]> {
    return new Promise((resolve, reject) => this.calls.push({ start, resolve, reject }));
  }
  answer(entries: [string, string[]][]): void {
    const call = this.calls.shift();
    if (!call) throw new Error('no XRANGE pending');
    call.resolve(entries);
  }
  fail(message: string): void {
    this.calls.shift()?.reject(new Error(message));
  }
}

const entry = (id: string, text: string): [string, string[]] => [id, ['m', text]];

function setup() {
  const sub = new FakeSubscriber();
  const reader = new FakeReader();
  const seen: string[] = [];
  const events = { onSubscribed: vi.fn(), onRefused: vi.fn(), onRead: vi.fn(), onGap: vi.fn() };
  const subscription = fromHistoryChannel(
    sub,
    reader,
    CHANNEL,
    { streamKey: 'k', historyMs: 60_000, logger: noopLogger, now: () => 1_000_000 },
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
    expect(reader.calls.map((c) => c.start)).toEqual(['940000-0']); // now - historyMs, inclusive
    sub.deliver('5-0 {"b":1}'); // published after SUBSCRIBE: in the stream too
    sub.deliver('{"plain":1}'); // a plain PUBLISH: not in the stream
    sub.deliver('6-0 {"c":1}');
    expect(seen).toEqual([]);
    reader.answer([entry('4-0', '{"a":1}'), entry('5-0', '{"b":1}')]);
    await flush();
    expect(seen).toEqual(['read {"a":1}', 'read {"b":1}', 'live {"plain":1}', 'live {"c":1}']);
    expect(events.onRead).toHaveBeenCalledWith(2, true, 940_000);
    sub.deliver('6-0 {"c":1}'); // a repeat of an ID already emitted
    sub.deliver('7-0 {"d":1}');
    expect(seen.slice(4)).toEqual(['live {"d":1}']);
  });

  it('after a reconnect reads from the last ID seen (exclusive) before resuming live, each message once', async () => {
    const { sub, reader, seen, events } = setup();
    await flush();
    reader.answer([]);
    await flush();
    sub.deliver('10-0 {"x":1}');
    sub.drop();
    sub.back();
    await flush();
    expect(reader.calls.map((c) => c.start)).toEqual(['(10-0']);
    sub.deliver('13-0 {"z":1}');
    reader.answer([entry('11-0', '{"y":1}'), entry('12-0', '{"y":2}'), entry('13-0', '{"z":1}')]);
    await flush();
    expect(seen).toEqual(['live {"x":1}', 'read {"y":1}', 'read {"y":2}', 'read {"z":1}']);
    expect(events.onRead).toHaveBeenLastCalledWith(3, false, 940_000);
    expect(events.onSubscribed).toHaveBeenCalledTimes(2);
  });

  it('gives up a read in flight when the subscriber drops again, and reads on from the last ID at the next SUBSCRIBE', async () => {
    const { sub, reader, seen } = setup();
    await flush();
    reader.answer([entry('1-0', '{"a":1}')]);
    await flush();
    sub.drop();
    sub.back();
    await flush();
    sub.drop(); // before the read answered
    reader.answer([entry('2-0', '{"late":1}')]); // the abandoned read: counts for nothing
    sub.back();
    await flush();
    expect(reader.calls.map((c) => c.start)).toEqual(['(1-0']);
    reader.answer([entry('2-0', '{"b":1}')]);
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
    expect(events.onGap).toHaveBeenCalledTimes(1);
    expect(events.onRead).toHaveBeenCalledWith(0, true, Infinity); // the load at start did not happen
    expect(seen).toEqual(['live {"held":1}']);
    sub.deliver('{"next":1}');
    expect(seen).toEqual(['live {"held":1}', 'live {"next":1}']);
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
