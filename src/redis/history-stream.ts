// The Redis-backed history's reader: the channel's live messages, plus what a Redis Stream holds that
// Pub/Sub did not deliver (at start: the last `historyMs`; after every reconnect of the subscriber: what
// was published while it was away), each message once and in the stream's order.
//
// Anyone who may PUBLISH on the channel can put any stamp on a message, so a stamp received live is never
// trusted to say what the stream holds: what counts as already delivered, and where a catch-up starts,
// comes only from entries read from the stream with XRANGE (a stamp received live is looked up there
// before the catch-up starts after it).
//
// Longer than 300 lines on purpose: fromHistoryChannel is one state machine (live messages held or passed,
// a catch-up running, stamps waiting to be looked up) whose every step reads and writes the same state;
// split by topic, each part would need all of it.
import { Observable } from 'rxjs';
import { createRateLimitedLog, type Logger } from '../shared/logger.js';
import { fromRedisChannel, type ChannelConnection, type ChannelEvents } from './channel-source.js';
import { compareStreamIds, streamIdMs, unstamp } from './history-script.js';

/** What the reader uses of its own connection (not the subscriber, which may not run XRANGE): ioredis's `xrange`. */
export interface StreamReader {
  xrange(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<[string, string[]][]>;
  /**
   * `XINFO STREAM key`, as a flat list of names and values (ioredis's `xinfo`). Optional: without it, or
   * when Redis refuses it, the load at start claims completeness only from the stream's first entry.
   */
  xinfo?(subcommand: 'STREAM', key: string): Promise<unknown>;
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
  /**
   * A stamp whose time is further ahead of `now()` than this (but at least 60 s: stamps are dated by
   * Redis's clock, not the producers') is ignored; the message passes unstamped.
   */
  readonly maxClockSkewMs?: number;
  readonly logger: Logger;
  /** Longest wait for one XRANGE page. */
  readonly readTimeoutMs?: number;
  /** How often the stamps received live are looked up in the stream, which moves the catch-up's start. */
  readonly confirmEveryMs?: number;
  readonly now?: () => number;
}

/** What {@link fromHistoryChannel} reports besides messages (and the channel's own events). */
export interface HistoryChannelEvents extends ChannelEvents {
  /**
   * A read of the stream finished: `count` entries that Pub/Sub had not delivered. `isFirstLoad` for the
   * load at start, whose complete history begins at `fromMs` (by Redis's clock; `Infinity`: no claim).
   */
  onRead(count: number, isFirstLoad: boolean, fromMs: number): void;
  /**
   * Messages may be missing: the stream could not be read (refused, timed out, too much to hold live data
   * for), it no longer holds where the last read ended (trimmed, or lost in a Redis restart), or messages
   * arrive that it does not hold (producers that only PUBLISH, or write another stream) and a reconnect
   * lost theirs.
   */
  onGap(): void;
  /** A live message's stamp was implausible (dated too far ahead) and was ignored. */
  onIgnoredStamp?(id: string): void;
}

/** Entries read per XRANGE. */
const PAGE = 1000;
/** Most entries one catch-up reads; past it the rest counts as lost. */
const MAX_READ = 200_000;
/** Live messages held while a catch-up runs; past it the catch-up is given up, so that live data flows. */
const MAX_HELD = 20_000;
/**
 * Entries read (and stamped messages delivered live) remembered as delivered: a live message stamped
 * with one of the entries read is a duplicate. Only entries published after SUBSCRIBE arrive live as
 * well, and those are among the held messages (at most MAX_HELD) or the last page.
 */
const MAX_RECENTLY_READ = MAX_HELD + PAGE;
/** Stamps received live that are looked up in the stream at a confirmation (the newest). */
const MAX_CANDIDATES = 8;
const READ_ATTEMPTS = 5;
const DEFAULT_READ_TIMEOUT_MS = 5000;
const DEFAULT_CONFIRM_EVERY_MS = 5000;
const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;
/** The least skew allowed between Redis's clock (which dates stamps) and this server's. */
const MIN_STAMP_SKEW_MS = 60_000;
const LOG_INTERVAL_MS = 10_000;

/** A stamp received live, and the connection (epoch) it arrived on. */
interface Candidate {
  readonly id: string;
  readonly epoch: number;
}

/**
 * Messages seen lately, by stream ID, with a digest of their payload, forgetting the oldest past `max`.
 * Two streams (another publisher's history key) can hand out the same ID in the same millisecond: a
 * message counts as seen only if its payload matches too.
 */
class RecentMessages {
  readonly #digests = new Map<string, number>();
  constructor(readonly max: number) {}
  add(id: string, payload: Buffer | string): void {
    this.#digests.set(id, digest(payload));
    if (this.#digests.size > this.max) this.#digests.delete(this.#digests.keys().next().value as string);
  }
  has(id: string, payload: Buffer | string): boolean {
    const known = this.#digests.get(id);
    return known !== undefined && known === digest(payload);
  }
}

/** FNV-1a (32 bits) of the payload's UTF-8 bytes. */
function digest(payload: Buffer | string): number {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ (bytes[i] as number), 0x01000193);
  return hash >>> 0;
}

/**
 * The channel's messages, with the gaps of Pub/Sub filled from the Redis Stream `streamKey`, which
 * producers write with {@link publishWithHistory} (an entry per message, and the message published with
 * the entry's ID as a stamp). It never errors; a stream it cannot read is reported to `onGap` and logged.
 *
 * From the moment the subscriber loses its connection (and from the start) until a catch-up has run,
 * live messages are held. Once Redis has confirmed SUBSCRIBE again, XRANGE reads the entries after the
 * last one delivered (at start: those added in the last `historyMs`); they are emitted in ID order, then
 * the held live messages, skipping every one stamped with the ID of an entry just read. Because the read
 * starts after Redis confirmed SUBSCRIBE, what it misses arrives live, so nothing is lost and nothing is
 * emitted twice.
 *
 * Stamps received live move nothing by themselves. A live message is dropped as a duplicate only when its
 * stamp is the ID of an entry read from the stream (and its payload that entry's), and a catch-up skips
 * the entries it finds already delivered live (same ID, same payload). Every few seconds, and before each
 * catch-up, the newest stamps received live are looked up in the stream (`XRANGE key id id`), and the
 * newest one found becomes where the next catch-up starts. So a forged stamp, a stamp of another stream,
 * or a stream whose IDs went backwards (recreated, or a Redis clock put back) can neither hide messages
 * nor move the catch-up past any. A stamp dated more than `maxClockSkewMs` (at least 60 s) ahead is
 * ignored, counted (`onIgnoredStamp`) and logged at most once per 10 s: the message passes as unstamped.
 *
 * Messages the stream does not hold (producers that only PUBLISH, stamps of another stream, ignored
 * stamps) pass through in the order received; once one has been seen, `onGap` is called at once (the load
 * at start could not include that producer's past) and after every catch-up (what it published while the
 * subscriber was away is lost). Catch-ups read with an inclusive start and skip the entry they start at,
 * which works on Redis 6.0 (an exclusive `(id` start needs 6.2) and tells whether that entry is still there.
 */
export function fromHistoryChannel(
  redis: ChannelConnection,
  reader: StreamReader,
  channel: string,
  options: HistoryChannelOptions,
  events: HistoryChannelEvents,
): Observable<HistoryMessage> {
  const {
    streamKey,
    historyMs,
    logger,
    readTimeoutMs = DEFAULT_READ_TIMEOUT_MS,
    confirmEveryMs = DEFAULT_CONFIRM_EVERY_MS,
    maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS,
    now = Date.now,
  } = options;
  const stampSkewMs = Math.max(maxClockSkewMs, MIN_STAMP_SKEW_MS);
  const logIgnored = createRateLimitedLog((obj, msg) => logger.warn(obj, msg), 'ignored implausible stamps', LOG_INTERVAL_MS, now);
  const logForeign = createRateLimitedLog(
    (obj, msg) => logger.warn(obj, msg),
    'messages on the channel that the history stream does not hold: a reconnect loses theirs',
    LOG_INTERVAL_MS,
    now,
  );
  return new Observable<HistoryMessage>((subscriber) => {
    /** The last entry read from the stream: where the next catch-up starts (inclusive, skipped). */
    let readMark: string | null = null;
    /** Entries read lately: a live message stamped with one of them was delivered already. */
    const recentlyRead = new RecentMessages(MAX_RECENTLY_READ);
    /**
     * Stamped messages delivered live lately: a catch-up that starts before them (the stamps looked up
     * were lost with a Redis restart, or forged) does not deliver them again.
     */
    const recentlyLive = new RecentMessages(MAX_RECENTLY_READ);
    /** The newest plausible stamps delivered live since the last confirmation, oldest first. */
    let candidates: Candidate[] = [];
    /** Bumped at every SUBSCRIBE: a stamp not found in the stream is foreign only if no restart came between. */
    let epoch = 0;
    /** A message the stream does not hold was seen: its producer's messages cannot be read back. */
    let hasForeign = false;
    /** Where the first load starts (Redis entry IDs begin with Redis's clock in milliseconds). */
    let loadFromMs: number | undefined;
    let isHolding = true;
    let held: Buffer[] = [];
    let isSubscribed = false;
    let isReading = false;
    /** The periodic lookup of live stamps in flight, if any. */
    let confirming: Promise<void> = Promise.resolve();
    let isRereadNeeded = false;
    let hasLoaded = false;
    /** Entries emitted by reads since the last report. */
    let readCount = 0;
    /** Bumped when a read is abandoned: its late pages count for nothing. */
    let readToken = 0;
    let failures = 0;
    let ignoredStamps = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let release: ReturnType<typeof setImmediate> | undefined;
    let confirmTimer: ReturnType<typeof setTimeout> | undefined;

    const noteForeign = (why: string): void => {
      logForeign({ channel, streamKey, why });
      if (hasForeign) return;
      hasForeign = true;
      if (hasLoaded) events.onGap(); // the load at start said complete without that producer's past
    };

    const emitLive = (message: Buffer): void => {
      const { id, payload } = unstamp(message);
      if (id === null) {
        noteForeign('unstamped');
      } else if (streamIdMs(id) > now() + stampSkewMs) {
        ignoredStamps++;
        events.onIgnoredStamp?.(id);
        logIgnored({ channel, streamKey, stamp: id, maxClockSkewMs: stampSkewMs, ignored: ignoredStamps });
        noteForeign('implausible stamp');
      } else {
        if (recentlyRead.has(id, payload)) return; // read from the stream already
        recentlyLive.add(id, payload);
        candidates.push({ id, epoch });
        if (candidates.length > MAX_CANDIDATES) candidates.shift();
        scheduleConfirm();
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
     * Looks the newest stamps received live up in the stream; the newest found becomes `readMark` (all
     * before it arrived live on an unbroken connection, or were read). A stamp of the current connection
     * that is not there although the stream holds older entries is not from this stream.
     */
    const confirm = async (isCatchUp: boolean): Promise<boolean> => {
      const checked = candidates;
      candidates = [];
      if (checked.length === 0) return true;
      let found: boolean[];
      try {
        found = await Promise.all(
          checked.map(({ id }) => withTimeout(reader.xrange(streamKey, id, id, 'COUNT', 1), readTimeoutMs).then((e) => e.length > 0)),
        );
      } catch (err) {
        candidates = [...checked, ...candidates].slice(-MAX_CANDIDATES); // looked up again by the retry
        throw err;
      }
      let best = null as string | null;
      const missing: Candidate[] = [];
      checked.forEach((c, i) => {
        if (found[i]) best = best === null || compareStreamIds(c.id, best) > 0 ? c.id : best;
        else if (isCatchUp || c.epoch === epoch) missing.push(c);
      });
      // A stamp found that is older than readMark moves it back only if readMark's entry is gone (the stream
      // was recreated): otherwise it is an old stamp sent again, and the next catch-up would repeat entries.
      if (best !== null && readMark !== null && compareStreamIds(best, readMark) < 0) {
        const current = await withTimeout(reader.xrange(streamKey, readMark, readMark, 'COUNT', 1), readTimeoutMs);
        if (current.length > 0) best = null;
      }
      if (best !== null) readMark = best;
      // At a catch-up a stamp received before the drop may be missing because Redis restarted and lost its
      // last writes: no verdict on the producer, but the history may miss what that stream lost.
      if (isCatchUp) return missing.length === 0;
      if (missing.length > 0) {
        const [first] = await withTimeout(reader.xrange(streamKey, '-', '+', 'COUNT', 1), readTimeoutMs);
        if (first !== undefined && missing.some((c) => compareStreamIds(c.id, first[0]) > 0)) noteForeign('stamp of another stream');
      }
      return true;
    };

    const scheduleConfirm = (): void => {
      if (confirmTimer !== undefined) return;
      confirmTimer = setTimeout(() => {
        confirmTimer = undefined;
        if (subscriber.closed) return;
        if (isReading || !isSubscribed || isHolding) return scheduleConfirm();
        // A catch-up waits for this lookup (see read()): both move readMark.
        confirming = confirm(false).then(
          () => {},
          (err: unknown) => {
            logger.debug({ streamKey, err: { message: err instanceof Error ? err.message : String(err) } }, 'stamp lookup failed');
          },
        );
      }, confirmEveryMs);
      confirmTimer.unref?.();
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
    const report = (completeFromMs: number): void => {
      const count = readCount;
      readCount = 0;
      if (!hasLoaded) {
        hasLoaded = true;
        events.onRead(count, true, completeFromMs);
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
      report(Infinity);
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
      const isLoad = !hasLoaded;
      loadFromMs ??= Math.max(0, now() - historyMs);
      let error: unknown;
      let completeFromMs = loadFromMs;
      /** Why what this read delivers may not be all that was missed, if it may not. */
      let gap: string | undefined;
      try {
        await confirming;
        // A stamp received live that the stream does not hold: its producer writes elsewhere (or nowhere
        // Redis kept), so what it published meanwhile cannot be read back.
        if (!(await confirm(true))) gap = 'a stamp received live is not in the stream';
        if (token !== readToken || subscriber.closed) return;
        const from = readMark;
        if (isLoad) {
          completeFromMs = await loadCompleteFromMs(reader, streamKey, loadFromMs, readTimeoutMs);
          if (token !== readToken || subscriber.closed) return;
        }
        let start = from ?? `${loadFromMs}-0`;
        /** The entry `start` names when it is one read before (an inclusive start): not emitted again. */
        let skip = from;
        for (let total = 0; ; total += PAGE) {
          if (total >= MAX_READ) throw new Error(`more than ${MAX_READ} entries to read`);
          const entries = await withTimeout(reader.xrange(streamKey, start, '+', 'COUNT', PAGE), readTimeoutMs);
          if (token !== readToken || subscriber.closed) return;
          // The inclusive start is the entry read last: if the stream no longer holds it, what came
          // between it and the first entry left may be gone (trimmed, or lost with a Redis restart).
          if (total === 0 && from !== null && entries[0]?.[0] !== from) gap ??= 'the stream no longer holds the last entry read';
          for (const [id, fields] of entries) {
            if (id === skip) continue;
            readMark = id;
            const payload = fieldValue(fields, 'm');
            if (payload === undefined || recentlyLive.has(id, payload)) continue;
            recentlyRead.add(id, payload);
            readCount++;
            subscriber.next({ payload, isRecovered: true });
          }
          if (entries.length < PAGE) break;
          start = skip = (entries.at(-1) as [string, string[]])[0];
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
      report(completeFromMs);
      if (gap !== undefined) logger.warn({ streamKey, reason: gap }, 'messages may be missing from the history');
      if (gap !== undefined || (!isLoad && hasForeign)) events.onGap();
      if (isRereadNeeded) {
        isRereadNeeded = false;
        void read();
      } else {
        resumeLive(); // does nothing if the subscriber dropped meanwhile: the next SUBSCRIBE reads from readMark
      }
    };

    const onClose = (): void => {
      isSubscribed = false;
      isHolding = true;
      clearImmediate(release); // messages held for release stay held, in order, for the next read
      // A read in flight is given up: it may wait on a reader connection that went down too, and the next
      // SUBSCRIBE reads on from readMark (on a fresh connection if need be). What it emitted stays emitted.
      readToken++;
      isReading = false;
      isRereadNeeded = false;
      failures = 0;
      clearTimeout(retry);
    };

    const live = fromRedisChannel(redis, channel, {
      onSubscribed() {
        isSubscribed = true;
        epoch++;
        events.onSubscribed();
        void read();
      },
      onRefused: (err, attempt) => events.onRefused(err, attempt),
    }).subscribe({ next: onLive, error: (err: unknown) => subscriber.error(err) });
    redis.on('close', onClose);
    return () => {
      readToken++;
      clearTimeout(retry);
      clearTimeout(confirmTimer);
      clearImmediate(release);
      redis.off('close', onClose);
      live.unsubscribe();
    };
  });
}

/**
 * From when the stream holds every entry, by Redis's clock, for a load that reads from `loadFromMs`:
 * `loadFromMs` when nothing after it was ever removed (XINFO STREAM's `max-deleted-entry-id`, Redis 7),
 * else from the first entry held (a stream trimmed or recreated since), and `Infinity` for an empty or
 * missing stream, which may have lost everything (a Redis restarted without persistence).
 */
async function loadCompleteFromMs(reader: StreamReader, streamKey: string, loadFromMs: number, timeoutMs: number): Promise<number> {
  const [first] = await withTimeout(reader.xrange(streamKey, '-', '+', 'COUNT', 1), timeoutMs);
  if (first === undefined) return Infinity;
  const firstMs = streamIdMs(first[0]);
  if (firstMs < loadFromMs || reader.xinfo === undefined) return Math.max(loadFromMs, firstMs);
  let info: unknown;
  try {
    info = await withTimeout(reader.xinfo('STREAM', streamKey), timeoutMs);
  } catch {
    return firstMs; // refused (ACL), or not a server that has it
  }
  const at = Array.isArray(info) ? info.indexOf('max-deleted-entry-id') : -1;
  const deleted: unknown = at >= 0 ? (info as unknown[])[at + 1] : undefined;
  if (typeof deleted !== 'string') return firstMs; // Redis 6 has no such field
  return streamIdMs(deleted) < loadFromMs ? loadFromMs : firstMs;
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
