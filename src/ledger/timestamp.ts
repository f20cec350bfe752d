// Timestamps of chunks and query bounds: integer ms since the epoch, or an ISO 8601 string that names
// a real calendar instant. Date.parse is not used: it rolls impossible dates over (2024-02-30 is
// 1 March), reads 24:00 as the next midnight and takes offsets of any size, so two devices could
// write different strings for one key, or a typo could become a plausible reading.
import { InputError } from "../util/errors.js";

/** Readings stamped more than this far in the future are a clock or input error. */
export const MAX_CLOCK_SKEW_MS = 24 * 60 * 60 * 1000;

/** Largest UTC offset accepted, in minutes (UTC+14:00 is the easternmost zone in use). */
const MAX_OFFSET_MINUTES = 14 * 60;

// Date-only, or date-time with an explicit zone: a zone-less time would be read in the local zone
// of whichever node parses it, giving the same reading different keys on different nodes.
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2})))?$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Milliseconds since the epoch of an ISO 8601 timestamp, or InputError `bad_timestamp` naming what
 * is impossible. Month 1–12, a day of that month (leap years counted), hour 0–23 (no 24:00), minute
 * and second 0–59: a leap second (:60) has no epoch-ms value of its own and is refused. Offsets up to
 * ±14:00. Fractions beyond milliseconds are truncated, as Date.parse does.
 */
export function parseIsoTimestamp(ts: string): number {
  const shown = `timestamp "${ts.slice(0, 40)}"`;
  const m = ISO_8601.exec(ts);
  if (m === null) throw new InputError("bad_timestamp", `${shown} is not ISO 8601`);
  const n = (i: number) => (m[i] === undefined ? 0 : Number(m[i]));
  const [year, month, day, hour, minute, second] = [n(1), n(2), n(3), n(4), n(5), n(6)];
  const bad = (what: string) => new InputError("bad_timestamp", `${shown}: ${what}`);
  if (month < 1 || month > 12) throw bad(`month ${m[2]} is not 01-12`);
  if (day < 1 || day > daysInMonth(year, month)) throw bad(`${year}-${m[2]} has no day ${m[3]}`);
  if (hour > 23) throw bad(`hour ${m[4]} is not 00-23`);
  if (minute > 59) throw bad(`minute ${m[5]} is not 00-59`);
  if (second === 60) throw bad("leap seconds (:60) are not accepted; use :59.999 or the next second");
  if (second > 59) throw bad(`second ${m[6]} is not 00-59`);
  let offset = 0;
  if (m[9] !== undefined) {
    const [oh, om] = [n(10), n(11)];
    if (om > 59) throw bad(`offset minute ${m[11]} is not 00-59`);
    offset = (oh * 60 + om) * (m[9] === "-" ? -1 : 1);
    if (Math.abs(offset) > MAX_OFFSET_MINUTES) throw bad(`offset ${m[9]}${m[10]}:${m[11]} is beyond ±14:00`);
  }
  const ms = Number((m[7] ?? "0").slice(0, 3).padEnd(3, "0"));
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: the latter reads years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offset, second, ms);
  return date.getTime();
}

/**
 * A chunk's timestamp or a query bound as ms since the epoch: a safe integer, or an ISO 8601 string
 * (parseIsoTimestamp); 0 ≤ t ≤ now + MAX_CLOCK_SKEW_MS.
 */
export function normaliseTimestamp(ts: unknown, now = Date.now()): number {
  let ms: number;
  if (typeof ts === "number") {
    if (!Number.isSafeInteger(ts))
      throw new InputError("bad_timestamp", `timestamp ${ts} is not an integer ms count within ±(2^53-1)`);
    ms = ts;
  } else if (typeof ts === "string") {
    ms = parseIsoTimestamp(ts);
  } else {
    throw new InputError("bad_timestamp", "timestamp must be ms since the epoch or an ISO 8601 string");
  }
  if (ms < 0) throw new InputError("bad_timestamp", "timestamp is before 1970");
  if (ms > now + MAX_CLOCK_SKEW_MS)
    throw new InputError("bad_timestamp", "timestamp is more than a day in the future");
  return ms;
}
