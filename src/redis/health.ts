import type { Logger } from '../shared/logger.js';

/**
 * The subscriber's state as clients and `stats()` see it.
 * `connecting` until the first subscription is confirmed, `up` while messages can flow, `down` during
 * an outage, `closed` after `stream.close()`.
 * @public
 */
export type RedisState = 'connecting' | 'up' | 'down' | 'closed';

/** Why Redis was marked down. */
export type RedisDownReason = 'connection_lost' | 'ping_timeout' | 'subscribe_refused';

/** What the health watcher uses of the subscriber connection. */
export interface HealthConnection {
  readonly status: string;
  ping(): Promise<unknown>;
  disconnect(reconnect?: boolean): void;
  on(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

/** Options of {@link watchRedisHealth}. */
export interface RedisHealthOptions {
  /** Interval of the check, and how long one may go unanswered before Redis counts as down. */
  readonly intervalMs: number;
  /** The round trip used instead of PING once Redis has refused PING to this user (ACL `NOPERM`). */
  readonly fallbackProbe: () => Promise<unknown>;
  readonly logger: Logger;
}

export interface RedisHealth {
  readonly state: RedisState;
  /** Redis confirmed SUBSCRIBE on the current connection: check now; the answer marks it up. */
  subscribed(): void;
  /** Redis refused SUBSCRIBE: down until the next `subscribed()`. */
  refused(): void;
  stop(): void;
}

/** An error Redis sent as its reply (ioredis's ReplyError), as opposed to a connection that failed. */
function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}

/**
 * Tracks whether the subscriber can deliver. `close` marks it down at once. It counts as up only once the
 * subscription is confirmed and a PING sent after it is answered (replies come in order, so the answer
 * proves the SUBSCRIBE went through). A PING every `intervalMs` that gets no answer within `intervalMs`
 * marks it down and forces a reconnect: a hung Redis (SIGSTOP) keeps the TCP connection open and sends
 * no event at all. Any reply counts as an answer, an error too (`LOADING`, `NOPERM`); after a `NOPERM`
 * the check uses `fallbackProbe`, so that a user without PING does not fill Redis's ACL log.
 */
export function watchRedisHealth(
  redis: HealthConnection,
  options: RedisHealthOptions,
  onChange: (state: RedisState, reason?: RedisDownReason) => void,
): RedisHealth {
  const { intervalMs, fallbackProbe, logger } = options;
  let state: RedisState = 'connecting';
  let isSubscribed = false;
  let probing = false;
  let mayPing = true;
  let probeTimeout: ReturnType<typeof setTimeout> | undefined;
  // Bumped on every connection loss, so that an answer on an older connection counts for nothing.
  let generation = 0;

  const setState = (next: RedisState, reason?: RedisDownReason): void => {
    if (state === next || state === 'closed') return;
    state = next;
    onChange(next, reason);
  };

  const probe = (): void => {
    if (probing || state === 'closed' || redis.status !== 'ready' || !isSubscribed) return;
    probing = true;
    const probeGeneration = generation;
    let settled = false;
    const timeout = (probeTimeout = setTimeout(() => {
      // After the event loop was blocked for longer than intervalMs, timers run before the socket is read:
      // the answer may already be waiting. Give the loop one turn to read it before calling Redis hung.
      setImmediate(() => {
        if (settled || probeGeneration !== generation) return;
        generation++;
        probing = false;
        setState('down', 'ping_timeout');
        redis.disconnect(true);
      });
    }, intervalMs));
    timeout.unref?.();
    const answered = (): void => {
      settled = true;
      clearTimeout(timeout);
      if (probeGeneration !== generation) return;
      probing = false;
      if (isSubscribed) setState('up');
    };
    (mayPing ? redis.ping() : fallbackProbe()).then(answered, (err: unknown) => {
      if (isReplyError(err)) {
        if (mayPing && err.message.startsWith('NOPERM')) {
          mayPing = false;
          logger.info({ err: { message: err.message } }, 'redis user may not PING; the health check re-sends SUBSCRIBE instead');
        }
        answered();
        return;
      }
      settled = true;
      clearTimeout(timeout);
      if (probeGeneration === generation) probing = false;
    });
  };

  const onClose = (): void => {
    generation++;
    probing = false;
    isSubscribed = false;
    setState('down', 'connection_lost');
  };

  redis.on('close', onClose);
  const timer = setInterval(probe, intervalMs);
  timer.unref?.();

  return {
    get state() {
      return state;
    },
    subscribed() {
      isSubscribed = true;
      probe();
    },
    refused() {
      isSubscribed = false;
      setState('down', 'subscribe_refused');
    },
    stop() {
      clearInterval(timer);
      clearTimeout(probeTimeout);
      redis.off('close', onClose);
      generation++;
      state = 'closed';
    },
  };
}
