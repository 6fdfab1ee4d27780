// The Redis-backed history's reader: the channel's live messages, plus what a Redis Stream holds that
// Pub/Sub did not deliver (at start: the last `historyMs`; after every reconnect of the subscriber: what
// was published while it was away), each message once and in the stream's order.
import { Observable } from 'rxjs';
import type { Logger } from '../shared/logger.js';
import { fromRedisChannel, type ChannelConnection, type ChannelEvents } from './channel-source.js';
import { compareStreamIds, unstamp } from './history-script.js';

/** What the reader uses of its own connection (not the subscriber, which may not run XRANGE): ioredis's `xrange`. */
export interface StreamReader {
  xrange(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<[string, string[]][]>;
}

/** One message for the pipeline, from Pub/Sub or read back from the stream. */
export interface HistoryMessage {
  readonly payload: Buffer | string;
  /** Read from the stream (the first load, or what a reconnect missed) rather than received live. */
  readonly isRecovered: boolean;
}

export interface HistoryChannelOptions {
  readonly streamKey: string;
  /** The first load reads the entries Redis added in this many milliseconds before it. */
  readonly historyMs: number;
  readonly logger: Logger;
  /** Longest wait for one XRANGE page. */
  readonly readTimeoutMs?: number;
  readonly now?: () => number;
}

/** What {@link fromHistoryChannel} reports besides messages (and the channel's own events). */
export interface HistoryChannelEvents extends ChannelEvents {
  /**
   * A read of the stream finished: `count` entries that Pub/Sub had not delivered. `isFirstLoad` for the
   * load at start, whose complete history begins at `fromMs` (by Redis's clock).
   */
  onRead(count: number, isFirstLoad: boolean, fromMs: number): void;
  /** The stream could not be read (refused, timed out, or too much to hold live data for): messages may be missing. */
  onGap(): void;
}

/** Entries read per XRANGE. */
const PAGE = 1000;
/** Most entries one catch-up reads; past it the rest counts as lost. */
const MAX_READ = 200_000;
/** Live messages held while a catch-up runs; past it the catch-up is given up, so that live data flows. */
const MAX_HELD = 20_000;
const READ_ATTEMPTS = 5;
const DEFAULT_READ_TIMEOUT_MS = 5000;

/**
 * The channel's messages, with the gaps of Pub/Sub filled from the Redis Stream `streamKey`, which
 * producers write with {@link publishWithHistory} (an entry per message, and the message published with
 * the entry's ID as a stamp). It never errors; a stream it cannot read is reported to `onGap` and logged.
 *
 * From the moment the subscriber loses its connection (and from the start) until a catch-up has run,
 * live messages are held. Once Redis has confirmed SUBSCRIBE again, XRANGE reads the entries after the
 * last ID seen (at start: those added in the last `historyMs`); they are emitted in ID order, then the
 * held live messages, skipping every stamped one whose ID is not after the last read. Because the read
 * starts after Redis confirmed SUBSCRIBE, what it misses arrives live, so nothing is lost and, by ID,
 * nothing is emitted twice. Messages without a stamp (producers that only PUBLISH) are not in the stream:
 * they pass through in the order received.
 */
export function fromHistoryChannel(
  redis: ChannelConnection,
  reader: StreamReader,
  channel: string,
  options: HistoryChannelOptions,
  events: HistoryChannelEvents,
): Observable<HistoryMessage> {
  const { streamKey, historyMs, logger, readTimeoutMs = DEFAULT_READ_TIMEOUT_MS, now = Date.now } = options;
  return new Observable<HistoryMessage>((subscriber) => {
    /** The newest stream entry emitted: live stamped messages up to it are duplicates. */
    let lastId: string | null = null;
    /** Where the first load starts (Redis entry IDs begin with Redis's clock in milliseconds). */
    let loadFromMs: number | undefined;
    let isHolding = true;
    let held: Buffer[] = [];
    let isSubscribed = false;
    let isReading = false;
    let isRereadNeeded = false;
    let hasLoaded = false;
    /** Entries emitted by reads since the last report. */
    let readCount = 0;
    /** Bumped when a read is abandoned: its late pages count for nothing. */
    let readToken = 0;
    let failures = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let release: ReturnType<typeof setImmediate> | undefined;

    const emitLive = (message: Buffer): void => {
      const { id, payload } = unstamp(message);
      if (id !== null) {
        if (lastId !== null && compareStreamIds(id, lastId) <= 0) return; // read from the stream already
        lastId = id;
      }
      subscriber.next({ payload, isRecovered: false });
    };

    const onLive = (message: Buffer): void => {
      if (!isHolding) return emitLive(message);
      held.push(message);
      if (held.length === MAX_HELD + 1) {
        logger.warn({ channel, streamKey, held: held.length }, 'history stream read too slow; resuming live data without it');
        giveUp();
      }
    };

    /**
     * Emits the held live messages once the read's batch has gone out (the pipeline flushes it in a
     * microtask), unless the subscriber dropped again: then they stay held for the next read.
     */
    const resumeLive = (): void => {
      clearImmediate(release);
      release = setImmediate(() => {
        if (!isSubscribed) return;
        const messages = held;
        held = [];
        isHolding = false;
        for (const message of messages) {
          if (subscriber.closed) return;
          emitLive(message);
        }
      });
    };

    /** Reports what was read since the last report; the first report is the load's. */
    const report = (isComplete: boolean): void => {
      const count = readCount;
      readCount = 0;
      if (!hasLoaded) {
        hasLoaded = true;
        events.onRead(count, true, isComplete ? (loadFromMs as number) : Infinity);
      } else if (count > 0) {
        events.onRead(count, false, loadFromMs as number);
      }
    };

    const giveUp = (): void => {
      readToken++;
      isReading = false;
      isRereadNeeded = false;
      failures = 0;
      clearTimeout(retry);
      report(false);
      events.onGap();
      resumeLive();
    };

    const read = async (): Promise<void> => {
      if (isReading) {
        isRereadNeeded = true;
        return;
      }
      isReading = true;
      const token = ++readToken;
      loadFromMs ??= Math.max(0, now() - historyMs);
      let error: unknown;
      try {
        let start = lastId === null ? `${loadFromMs}-0` : `(${lastId}`;
        for (let total = 0; ; total += PAGE) {
          if (total >= MAX_READ) throw new Error(`more than ${MAX_READ} entries to read`);
          const entries = await withTimeout(reader.xrange(streamKey, start, '+', 'COUNT', PAGE), readTimeoutMs);
          if (token !== readToken || subscriber.closed) return;
          for (const [id, fields] of entries) {
            if (lastId !== null && compareStreamIds(id, lastId) <= 0) continue;
            lastId = id;
            const payload = fieldValue(fields, 'm');
            if (payload === undefined) continue;
            readCount++;
            subscriber.next({ payload, isRecovered: true });
          }
          if (entries.length < PAGE) break;
          start = `(${lastId}`;
        }
      } catch (err) {
        if (token !== readToken || subscriber.closed) return;
        error = err;
      }
      isReading = false;
      if (error !== undefined) {
        failures++;
        const message = error instanceof Error ? error.message : String(error);
        if (failures >= READ_ATTEMPTS) {
          logger.error(
            { streamKey, err: { message }, attempts: failures },
            'could not read the history stream; messages published while Redis was away may be missing',
          );
          giveUp();
          return;
        }
        logger.warn({ streamKey, err: { message }, attempt: failures }, 'history stream read failed; retrying');
        clearTimeout(retry);
        retry = setTimeout(() => void read(), 100 * 2 ** failures);
        retry.unref?.();
        return;
      }
      failures = 0;
      report(true);
      if (isRereadNeeded) {
        isRereadNeeded = false;
        void read();
      } else {
        resumeLive(); // does nothing if the subscriber dropped meanwhile: the next SUBSCRIBE reads from lastId
      }
    };

    const onClose = (): void => {
      isSubscribed = false;
      isHolding = true;
      clearImmediate(release); // messages held for release stay held, in order, for the next read
      // A read in flight is given up: it may wait on a reader connection that went down too, and the next
      // SUBSCRIBE reads on from lastId (on a fresh connection if need be). What it emitted stays emitted.
      readToken++;
      isReading = false;
      isRereadNeeded = false;
      failures = 0;
      clearTimeout(retry);
    };

    const live = fromRedisChannel(redis, channel, {
      onSubscribed() {
        isSubscribed = true;
        events.onSubscribed();
        void read();
      },
      onRefused: (err, attempt) => events.onRefused(err, attempt),
    }).subscribe({ next: onLive, error: (err: unknown) => subscriber.error(err) });
    redis.on('close', onClose);
    return () => {
      readToken++;
      clearTimeout(retry);
      clearImmediate(release);
      redis.off('close', onClose);
      live.unsubscribe();
    };
  });
}

/** The value of `name` in a stream entry's flat field list. */
function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
