import { merge, Observable } from 'rxjs';
import { fromRedisChannel, resubscribeDelayMs, type ChannelConnection, type ChannelEvents } from './channel-source.js';

/**
 * Messages of several Redis Pub/Sub channels on one connection, merged: one {@link fromRedisChannel} per
 * channel, so each is (S)SUBSCRIBEd on its own (sharded channels in one call must share a slot) and
 * retried on its own. `onSubscribed` is reported once every channel is confirmed on the current
 * connection, so the stream counts as up only when none is missing; `onRefused` for each refusal.
 */
export function fromRedisChannels(
  redis: ChannelConnection,
  channels: readonly string[],
  events: ChannelEvents,
  retryDelayMs: (attempt: number) => number = resubscribeDelayMs,
): Observable<Buffer> {
  if (channels.length === 1) return fromRedisChannel(redis, channels[0] as string, events, retryDelayMs);
  return new Observable<Buffer>((subscriber) => {
    // Channels confirmed since the connection last closed.
    const confirmed = new Set<string>();
    const onClose = (): void => confirmed.clear();
    redis.on('close', onClose);
    const sources = channels.map((channel) =>
      fromRedisChannel(
        redis,
        channel,
        {
          onSubscribed() {
            confirmed.add(channel);
            if (confirmed.size === channels.length) events.onSubscribed();
          },
          onRefused(err, attempt) {
            confirmed.delete(channel);
            events.onRefused(err, attempt);
          },
        },
        retryDelayMs,
      ),
    );
    const subscription = merge(...sources).subscribe(subscriber);
    return () => {
      subscription.unsubscribe();
      redis.off('close', onClose);
    };
  });
}
