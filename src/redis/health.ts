import type { Redis } from 'ioredis';

/**
 * The subscriber's state as clients and `stats()` see it.
 * `connecting` until the first subscription is confirmed, `up` while messages can flow, `down` during
 * an outage, `closed` after `stream.close()`.
 * @public
 */
export type RedisState = 'connecting' | 'up' | 'down' | 'closed';

/** Why Redis was marked down. */
export type RedisDownReason = 'connection_lost' | 'ping_timeout';

export interface RedisHealth {
  readonly state: RedisState;
  /** Checks now instead of at the next interval, e.g. right after the first SUBSCRIBE is confirmed. */
  probe(): void;
  stop(): void;
}

/**
 * Tracks whether the subscriber can deliver. `close` marks it down at once; `ready` (after ioredis has
 * re-sent SUBSCRIBE) is confirmed by a PING round trip before it counts as up. A PING every `intervalMs`
 * that gets no answer within `intervalMs` marks it down and forces a reconnect: a hung Redis (SIGSTOP)
 * keeps the TCP connection open and sends no event at all.
 */
export function watchRedisHealth(
  redis: Redis,
  intervalMs: number,
  isSubscribed: () => boolean,
  onChange: (state: RedisState, reason?: RedisDownReason) => void,
): RedisHealth {
  let state: RedisState = 'connecting';
  let probing = false;
  // Bumped on every connection loss, so that a PING answered on an older connection counts for nothing.
  let generation = 0;

  const setState = (next: RedisState, reason?: RedisDownReason): void => {
    if (state === next || state === 'closed') return;
    state = next;
    onChange(next, reason);
  };

  const probe = (): void => {
    if (probing || state === 'closed' || redis.status !== 'ready' || !isSubscribed()) return;
    probing = true;
    const probeGeneration = generation;
    const timeout = setTimeout(() => {
      if (probeGeneration !== generation) return;
      generation++;
      probing = false;
      setState('down', 'ping_timeout');
      redis.disconnect(true);
    }, intervalMs);
    timeout.unref();
    redis.ping().then(
      () => {
        clearTimeout(timeout);
        if (probeGeneration !== generation) return;
        probing = false;
        setState('up');
      },
      () => {
        clearTimeout(timeout);
        if (probeGeneration === generation) probing = false;
      },
    );
  };

  const onClose = (): void => {
    generation++;
    probing = false;
    setState('down', 'connection_lost');
  };
  // readyHandler emits 'ready' before it writes the re-SUBSCRIBE; probe after it, so the PONG proves the subscription.
  const onReady = (): void => queueMicrotask(probe);

  redis.on('close', onClose);
  redis.on('ready', onReady);
  const timer = setInterval(probe, intervalMs);
  timer.unref();

  return {
    get state() {
      return state;
    },
    probe,
    stop() {
      clearInterval(timer);
      redis.off('close', onClose);
      redis.off('ready', onReady);
      generation++;
      state = 'closed';
    },
  };
}
