import { Observable } from 'rxjs';

/** What the channel source uses of the subscriber connection (an ioredis Redis or Cluster, or the in-process bus). */
export interface ChannelConnection {
  readonly status: string;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown;
  on(event: 'ready' | 'close', listener: () => void): unknown;
  off(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown;
  off(event: 'ready' | 'close', listener: () => void): unknown;
}

/** What {@link fromRedisChannel} reports besides messages. */
export interface ChannelEvents {
  /** Redis confirmed SUBSCRIBE: on the first connection, and again after every reconnect. */
  onSubscribed(): void;
  /**
   * SUBSCRIBE failed, e.g. `NOPERM` from an ACL without the channel. `attempt` counts failures since the
   * last success, so `1` starts an outage. It is retried after a backoff, and at the next reconnect.
   */
  onRefused(err: unknown, attempt: number): void;
}

/** Wait before retrying a refused SUBSCRIBE: 100 ms, doubling up to 2 s. */
export function resubscribeDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** (attempt - 1), 2000);
}

/**
 * Messages of one Redis Pub/Sub channel, as raw Buffers (decoding is the parser's job, after the size
 * check). SUBSCRIBE is sent whenever the connection is ready: now if it is, and after every reconnect.
 * The connection must be opened with ioredis's `autoResubscribe` off: ioredis leaves the promise of its
 * own resubscribe unhandled, so a refused one would end the host process. A refused SUBSCRIBE is retried
 * with backoff and reported to `events`; it never errors the Observable. Unsubscribes on teardown.
 */
export function fromRedisChannel(
  redis: ChannelConnection,
  channel: string,
  events: ChannelEvents,
  retryDelayMs: (attempt: number) => number = resubscribeDelayMs,
): Observable<Buffer> {
  return new Observable<Buffer>((subscriber) => {
    const channelBytes = Buffer.from(channel);
    // Bumped on every 'close': a reply to a SUBSCRIBE sent on an older connection counts for nothing.
    let connection = 0;
    // The connection on which a SUBSCRIBE is in flight or confirmed; -1 when none is.
    let subscribedOn = -1;
    let failures = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;

    const subscribe = (): void => {
      if (subscriber.closed || redis.status !== 'ready' || subscribedOn === connection) return;
      const sentOn = (subscribedOn = connection);
      redis.subscribe(channel).then(
        () => {
          if (sentOn !== connection || subscriber.closed) return;
          failures = 0;
          events.onSubscribed();
        },
        (err: unknown) => {
          if (sentOn !== connection || subscriber.closed) return;
          subscribedOn = -1;
          failures++;
          events.onRefused(err, failures);
          clearTimeout(retry);
          retry = setTimeout(subscribe, retryDelayMs(failures));
          retry.unref?.();
        },
      );
    };
    const onMessage = (from: Buffer, message: Buffer): void => {
      if (channelBytes.equals(from)) subscriber.next(message);
    };
    const onClose = (): void => {
      connection++;
      subscribedOn = -1;
      clearTimeout(retry);
    };

    redis.on('messageBuffer', onMessage);
    redis.on('close', onClose);
    redis.on('ready', subscribe);
    subscribe();
    return () => {
      clearTimeout(retry);
      redis.off('messageBuffer', onMessage);
      redis.off('close', onClose);
      redis.off('ready', subscribe);
      if (redis.status === 'ready') redis.unsubscribe(channel).catch(() => {});
    };
  });
}
