import type { Logger } from '../shared/logger.js';

type LevelName = keyof Logger;

/** Fields every line starts with; a logged field of the same name does not replace them. */
const RESERVED = new Set(['level', 'time', 'msg']);

/**
 * A logger that writes one JSON object per line, for log pipelines: `level` (`debug`, `info`, `warn`,
 * `error`), `time` (ISO-8601), `msg`, then the logged fields as they are, `event` included where the
 * caller gives one. An `Error` anywhere in the fields keeps only its `message` and `code` (a stack or
 * a cause could quote a connection's options), and a field that cannot be serialized (a cycle, a
 * BigInt) turns the line into one that says so rather than throwing into the caller.
 * @param isEnabled - whether lines of a level are written
 * @param write - receives each line, newline included
 */
export function createJsonLogger(
  isEnabled: (level: LevelName) => boolean,
  write: (line: string) => void,
  now: () => Date = () => new Date(),
): Logger {
  const line =
    (level: LevelName) =>
    (obj: object, msg?: string): void => {
      if (!isEnabled(level)) return;
      const entry: Record<string, unknown> = { level, time: now().toISOString(), msg: msg ?? '' };
      for (const [key, value] of Object.entries(obj)) if (!RESERVED.has(key)) entry[key] = value;
      let text: string;
      try {
        text = JSON.stringify(entry, (_key, value: unknown) => (value instanceof Error ? errorFields(value) : value));
      } catch {
        text = JSON.stringify({ level, time: entry['time'], msg: entry['msg'], logError: 'fields not serializable as JSON' });
      }
      write(`${text}\n`);
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

function errorFields(err: Error): { message: string; code?: unknown } {
  const code = (err as { code?: unknown }).code;
  return code === undefined ? { message: err.message } : { message: err.message, code };
}
