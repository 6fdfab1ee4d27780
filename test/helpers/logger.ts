import type { Logger } from '../../src/shared/logger.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

/** One logged call, as the logger received it. */
export interface LogLine {
  readonly level: Level;
  readonly obj: object;
  readonly msg: string;
  /** `[obj, msg]` as JSON: what a log pipeline would store, for "never logs a secret" checks. */
  readonly text: string;
  /** `performance.now()` when it was logged. */
  readonly at: number;
}

/** A logger that records every call, for tests. */
export interface RecordingLogger extends Logger {
  readonly lines: LogLine[];
  /** How many lines at `level` have a message containing `text`. */
  count(level: Level, text: string): number;
  /** Every line's `text`, one per line. */
  dump(): string;
  /** The `warn` calls, as `{ obj, msg }`. */
  warnings(): { obj: object; msg: string }[];
}

export function recordingLogger(): RecordingLogger {
  const lines: LogLine[] = [];
  const at = (level: Level) => (obj: object, msg?: string) =>
    void lines.push({ level, obj, msg: msg ?? '', text: JSON.stringify([obj, msg]), at: performance.now() });
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    count: (level, text) => lines.filter((l) => l.level === level && l.msg.includes(text)).length,
    dump: () => lines.map((l) => l.text).join('\n'),
    warnings: () => lines.filter((l) => l.level === 'warn').map(({ obj, msg }) => ({ obj, msg })),
  };
}
