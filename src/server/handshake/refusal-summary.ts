import type { HandshakeRefusal } from './outcomes.js';

export interface RefusalSummary {
  /** Counts one refused handshake. */
  refused(outcome: HandshakeRefusal): void;
  /** Logs what is still unreported and stops the timer. */
  close(): void;
}

/**
 * Summarises refused handshakes in the log, so that a storm of bad keys is a few lines, not one per
 * attempt: the first refusal after a quiet `intervalMs` is logged at once, later ones are counted by
 * outcome and logged together at most once per `intervalMs`. The line for the tail of a storm comes
 * from one unref'd timer, which runs only while refusals wait to be reported. Each line is
 * `{ event: 'handshakes_refused', refused: { unauthorized: 9998, … }, total: 9998 }`.
 */
export function createRefusalSummary(
  log: (obj: object, msg: string) => void,
  intervalMs: number,
  now: () => number = Date.now,
): RefusalSummary {
  let counts: Partial<Record<HandshakeRefusal, number>> = {};
  let total = 0;
  let loggedAt = -Infinity;
  let timer: NodeJS.Timeout | null = null;

  const flush = (): void => {
    timer = null;
    if (total === 0) return;
    loggedAt = now();
    log({ event: 'handshakes_refused', refused: counts, total }, 'handshakes refused');
    counts = {};
    total = 0;
  };

  return {
    refused(outcome) {
      counts[outcome] = (counts[outcome] ?? 0) + 1;
      total++;
      if (timer !== null) return;
      const wait = loggedAt + intervalMs - now();
      if (wait <= 0) return flush();
      timer = setTimeout(flush, wait);
      timer.unref();
    },
    close() {
      if (timer !== null) clearTimeout(timer);
      flush();
    },
  };
}
