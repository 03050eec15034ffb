/**
 * oslo_utils.timeutils.parse_isotime, which is iso8601 1.1's parse_date (Debian bookworm): what
 * Nova's 'date-time' format check and its changes-since / changes-before filters accept. Lenient
 * the way that library is: `2026`, `2026-12`, `20261201T0219`, a space for the `T`, a comma for the
 * decimal point, no timezone (UTC). "yesterday" is refused (11e). Returns epoch milliseconds, with
 * a fraction for microseconds, or null.
 */

const ISO8601 = new RegExp(
  '^(?<year>[0-9]{4})(' +
    '((-(?<monthdash>[0-9]{1,2}))|(?<month>[0-9]{2})(?!$))' +
    '(' +
    '((-(?<daydash>[0-9]{1,2}))|(?<day>[0-9]{2}))' +
    '(' +
    '(?<separator>[ T])(?<hour>[0-9]{2})(:?(?<minute>[0-9]{2}))?' +
    '(:?(?<second>[0-9]{1,2})([.,](?<fraction>[0-9]+))?)?' +
    '(?<timezone>Z|((?<tzsign>[-+])(?<tzhour>[0-9]{2}):?(?<tzminute>[0-9]{2})?))?' +
    ')?' +
    ')?' +
    ')?$',
);

export function parseIsoTime(value: string): number | null {
  // Python's `$` also matches before one final newline.
  const m = ISO8601.exec(value) ?? (value.endsWith('\n') ? ISO8601.exec(value.slice(0, -1)) : null);
  const g = m?.groups;
  if (!g) return null;
  const num = (v: string | undefined, fallback: number): number => (v === undefined ? fallback : Number(v));
  const year = num(g.year, 0);
  const month = num(g.month ?? g.monthdash, 1);
  const day = num(g.day ?? g.daydash, 1);
  const hour = num(g.hour, 0);
  const minute = num(g.minute, 0);
  const second = num(g.second, 0);
  // datetime() refuses what does not exist: month 13, 30 February, hour 24, second 60, year 0.
  if (year < 1 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return null;
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate();
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  if (day < 1 || day > (month === 2 ? (leap ? 29 : 28) : daysInMonth)) return null;
  let offsetMinutes = 0;
  if (g.tzsign !== undefined) {
    const hours = num(g.tzhour, 0);
    const minutes = num(g.tzminute, 0);
    offsetMinutes = (g.tzsign === '-' ? -1 : 1) * (hours * 60 + minutes);
    // datetime.timezone takes offsets strictly within a day.
    if (Math.abs(offsetMinutes) >= 24 * 60) return null;
  }
  const micro = g.fraction === undefined ? 0 : Math.floor(Number(`0.${g.fraction}`) * 1_000_000);
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, 0);
  return utc.getTime() - offsetMinutes * 60_000 + micro / 1000;
}
