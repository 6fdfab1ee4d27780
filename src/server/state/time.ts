// Times as the message schema accepts them, read exactly (Date.parse refuses some).

/**
 * An RFC 3339 date-time as the message schema accepts it (`T`, `t` or a space between date and time; `Z`,
 * `z`, `±hh`, `±hhmm` or `±hh:mm`; any number of fraction digits; a leap second `:60`), in milliseconds since
 * the epoch; `NaN` when it is not one. `Date.parse` refuses some of these (`+05`, `:60`): a value whose
 * time it cannot read would be missing from a backfill that says it is complete. A leap second counts as
 * the first millisecond of the next minute, its fraction ignored.
 */
export function parseTime(text: string): number {
  const m = DATE_TIME.exec(text);
  if (m === null) return NaN;
  const [, y, mo, d, h, mi, s, fraction, zone, sign, zh, zm] = m as unknown as string[];
  const second = Number(s);
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC, which reads the years 0-99 as 1900-1999; a second of 60 rolls over.
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), second, second === 60 ? 0 : Math.floor(Number(`0.${fraction ?? '0'}`) * 1000 + 1e-6));
  const utc = date.getTime();
  if (zone === undefined || /^z$/i.test(zone)) return utc;
  const offsetMs = (Number(zh) * 60 + Number(zm ?? 0)) * 60_000;
  return sign === '-' ? utc + offsetMs : utc - offsetMs;
}
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2})(?::?(\d{2}))?)$/;
