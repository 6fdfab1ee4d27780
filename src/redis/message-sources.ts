// The messages a stream feeds its two pipelines with: the channel's live messages (stamps stripped) and,
// with the Redis-backed history, what its reader recovers from the history stream.
import { EMPTY, filter, map, type Observable, share } from 'rxjs';
import type { Logger } from '../shared/logger.js';
import type { ChannelConnection, ChannelEvents } from './channel-source.js';
import { fromRedisChannels } from './channel-list-source.js';
import { openRedisConnection, type RedisLike } from './redis-connection.js';
import { unstamp } from './history-script.js';
import { fromHistoryChannel, type StreamReader } from './history-stream.js';

/**
 * What the message sources tell the stream's history (the server's `HistoryStore`; declared here so that
 * this room does not import the server's).
 */
export interface HistoryMarks {
  /** Values from now back to the last one recorded may be missing. */
  markGap(): void;
  /** The history also holds what was delivered from `fromMs` on (loaded from the Redis stream). */
  markLoaded(fromMs: number): void;
}

/** The messages a stream feeds its pipelines with. */
export interface MessageSources {
  /** Pub/Sub messages, stamps removed (and, with a history stream, those already read from it dropped). */
  readonly live$: Observable<Buffer>;
  /** Messages read from the history stream: the first load, and what a reconnect missed. Empty without one. */
  readonly recovered$: Observable<Buffer | string>;
  /** Resolves once the first load from the history stream is done or given up; at once without one. */
  readonly loaded: Promise<void>;
  /** Closes the connection the history reader opened, if any. */
  close(): void;
}

/** What {@link openMessageSources} reports besides messages. */
export interface MessageSourceEvents extends ChannelEvents {
  /** Messages a reconnect missed, read from the history stream (the first load does not count). */
  onRecovered(count: number): void;
  /** A live message's stamp was implausible and ignored (the message passed as unstamped). */
  onIgnoredStamp(): void;
}

/**
 * The live messages of `options.channels` on `redis`, and with `options.historyStream` (one channel only) what the Redis
 * stream adds to them (see {@link fromHistoryChannel}, which then reads on a connection of its own).
 * Tells `history` where it may have a gap: after every reconnect without a history stream (what was
 * published meanwhile is lost), and when the stream could not be read.
 */
export function openMessageSources(
  redis: ChannelConnection,
  options: {
    readonly redis: string | RedisLike;
    readonly channel: string;
    readonly channels: readonly string[];
    readonly historyStream: string | null;
    readonly historyMs: number;
    /** A stamp dated further ahead than this is ignored. */
    readonly maxClockSkewMs?: number | undefined;
    readonly logger: Logger;
  },
  history: HistoryMarks,
  events: MessageSourceEvents,
): MessageSources {
  const { channel, channels, historyStream, historyMs, logger } = options;
  if (historyStream === null) {
    let hasSubscribed = false;
    let wasClosed = false;
    const onClose = (): void => void (wasClosed = hasSubscribed);
    redis.on('close', onClose);
    const live$ = fromRedisChannels(redis, channels, {
      onSubscribed() {
        if (wasClosed) history.markGap(); // Pub/Sub does not replay what was published while we were away
        hasSubscribed = true;
        wasClosed = false;
        events.onSubscribed();
      },
      onRefused: (err, attempt) => events.onRefused(err, attempt),
    }).pipe(map((message) => unstamp(message).payload));
    return { live$, recovered$: EMPTY, loaded: Promise.resolve(), close: () => void redis.off('close', onClose) };
  }

  // A read runs once the subscriber is back, while live messages are held for it: a reader connection
  // still waiting out its reconnect backoff then (Redis restarted) is replaced by a new one, which connects
  // at once. (ioredis cannot be told to reconnect now: disconnect() during a backoff leaves it stuck.)
  let reader = openRedisConnection(options.redis, 'history', logger);
  const connectedReader: StreamReader = {
    xrange(...args) {
      if (reader.status === 'reconnecting' || reader.status === 'close' || reader.status === 'end') {
        reader.disconnect();
        reader = openRedisConnection(options.redis, 'history', logger);
      }
      return (reader as unknown as StreamReader).xrange(...args);
    },
    xinfo: (subcommand, key) => (reader as unknown as Required<StreamReader>).xinfo(subcommand, key),
  };
  let markLoaded: () => void = () => {};
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  const messages$ = fromHistoryChannel(
    redis,
    connectedReader,
    channel,
    { streamKey: historyStream, historyMs, maxClockSkewMs: options.maxClockSkewMs, logger },
    {
      onSubscribed: () => events.onSubscribed(),
      onRefused: (err, attempt) => events.onRefused(err, attempt),
      onRead(count, isFirstLoad, fromMs) {
        if (!isFirstLoad) return events.onRecovered(count);
        if (Number.isFinite(fromMs)) history.markLoaded(fromMs);
        logger.info({ streamKey: historyStream, count }, 'history loaded from the redis stream');
        markLoaded();
      },
      onGap: () => history.markGap(),
      onIgnoredStamp: () => events.onIgnoredStamp(),
    },
  ).pipe(share());
  return {
    live$: messages$.pipe(
      filter((m) => !m.isRecovered),
      map((m) => m.payload as Buffer),
    ),
    recovered$: messages$.pipe(
      filter((m) => m.isRecovered),
      map((m) => m.payload),
    ),
    loaded,
    close() {
      markLoaded();
      reader.disconnect();
    },
  };
}
