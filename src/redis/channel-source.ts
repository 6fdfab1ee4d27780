import type { Redis } from 'ioredis';
import { Observable } from 'rxjs';

/**
 * Messages of one Redis Pub/Sub channel, as raw Buffers (decoding is the parser's job, after the
 * size check). Subscribes on subscription and unsubscribes on teardown; ioredis re-subscribes by
 * itself after a reconnect. `onSubscribed` runs once Redis has confirmed the first SUBSCRIBE. A failed
 * SUBSCRIBE errors the Observable.
 */
export function fromRedisChannel(redis: Redis, channel: string, onSubscribed: () => void): Observable<Buffer> {
  return new Observable<Buffer>((subscriber) => {
    const channelBytes = Buffer.from(channel);
    const onMessage = (from: Buffer, message: Buffer): void => {
      if (channelBytes.equals(from)) subscriber.next(message);
    };
    redis.on('messageBuffer', onMessage);
    redis.subscribe(channel).then(
      () => {
        if (!subscriber.closed) onSubscribed();
      },
      (err: unknown) => subscriber.error(err),
    );
    return () => {
      redis.off('messageBuffer', onMessage);
      if (redis.status === 'ready') redis.unsubscribe(channel).catch(() => {});
    };
  });
}
