// Local wall-clock time in an IANA time zone with nothing but Intl: which zone a customer's messages follow,
// the local date and minute of an instant, and the first instant a local time of day is reached (correct across
// daylight-saving changes, where a local time may not exist or may happen twice).

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;

// Building an Intl.DateTimeFormat costs far more than using one; one per zone is kept for the process's life
// (a memo of a pure function, not state: the answers never change).
// Bounded, since zone names come from customers' profiles and need not be real.
const formatters = new Map<string, Intl.DateTimeFormat | null>();
const FORMATTERS_KEPT = 1000;

function formatterFor(zone: string): Intl.DateTimeFormat | null {
  const known = formatters.get(zone);
  if (known !== undefined) return known;
  let made: Intl.DateTimeFormat | null = null;
  try {
    made = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      hourCycle: "h23",
    });
  } catch {
    made = null;
  }
  if (formatters.size >= FORMATTERS_KEPT) formatters.clear();
  formatters.set(zone, made);
  return made;
}

export function isKnownTimeZone(zone: string): boolean {
  return zone !== "" && formatterFor(zone) !== null;
}

export interface ZoneChoice {
  zone: string;
  source: "customer" | "workspace" | "utc";
  /** Set when a zone was given but not known, so the trace can say why another one was used. */
  note: string | null;
}

/** The customer's zone, else the workspace's, else UTC; an unknown zone name falls through with a note. */
export function chooseTimeZone(customerZone: string | null, workspaceZone: string | null): ZoneChoice {
  const notes: string[] = [];
  if (customerZone) {
    if (isKnownTimeZone(customerZone)) return { zone: customerZone, source: "customer", note: null };
    notes.push(`the customer's time zone '${customerZone}' is not a known IANA zone`);
  }
  if (workspaceZone) {
    if (isKnownTimeZone(workspaceZone)) {
      return { zone: workspaceZone, source: "workspace", note: notes[0] ?? null };
    }
    notes.push(`the workspace's time zone '${workspaceZone}' is not a known IANA zone`);
  }
  return { zone: "UTC", source: "utc", note: notes.length > 0 ? notes.join("; ") : null };
}

export interface LocalTime {
  /** Days since 1970-01-01 of the local calendar date. */
  day: number;
  /** Minutes after local midnight. */
  minute: number;
}

// Offsets change at whole minutes only, so an offset is remembered per zone and UTC minute: a broadcast decides
// thousands of customers within the same few minutes, and formatting is the costliest step of a decision.
const offsets = new Map<string, Map<number, number>>();
const OFFSETS_KEPT = 20_000;

/** The local date and time of day of an instant (seconds dropped). Unknown zones read as UTC. */
export function localTime(at: number, zone: string): LocalTime {
  const utcMinute = Math.floor(at / MINUTE_MS);
  let known = offsets.get(zone);
  let offset = known?.get(utcMinute);
  if (offset === undefined) {
    offset = offsetMinutesAt(utcMinute, zone);
    if (known === undefined || known.size >= OFFSETS_KEPT) {
      known = new Map();
      offsets.set(zone, known);
    }
    known.set(utcMinute, offset);
  }
  const wall = utcMinute + offset;
  return { day: Math.floor(wall / DAY_MINUTES), minute: wall - Math.floor(wall / DAY_MINUTES) * DAY_MINUTES };
}

/** Local minus UTC, in minutes, read from Intl. */
function offsetMinutesAt(utcMinute: number, zone: string): number {
  const f = formatterFor(zone);
  if (f === null) return 0;
  let year = 1970;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  for (const p of f.formatToParts(utcMinute * MINUTE_MS)) {
    if (p.type === "year") year = Number(p.value);
    else if (p.type === "month") month = Number(p.value);
    else if (p.type === "day") day = Number(p.value);
    else if (p.type === "hour") hour = Number(p.value);
    else if (p.type === "minute") minute = Number(p.value);
  }
  return Date.UTC(year, month - 1, day, hour, minute) / MINUTE_MS - utcMinute;
}

/** A local date and time as one number of minutes, so wall-clock moments compare by plain arithmetic. */
function wallMinutes(t: LocalTime): number {
  return t.day * DAY_MINUTES + t.minute;
}

/**
 * The first instant at which the zone's wall clock shows `day` at `minute` or later. Where the time does not
 * exist (clocks jump forward over it) that is the moment of the jump; where it happens twice (clocks go back),
 * the first time that is not before `notBefore`.
 */
export function firstInstantAtWall(day: number, minute: number, zone: string, notBefore = -Infinity): number {
  const target = day * DAY_MINUTES + minute;
  const naive = target * MINUTE_MS;
  // Offsets (local − UTC) a day either side bracket every offset the answer can have.
  const before = offsetAt(naive - 86_400_000, zone);
  const after = offsetAt(naive + 86_400_000, zone);
  const candidates = [naive - before, naive - after].sort((a, b) => a - b);
  for (const c of candidates) if (c >= notBefore && wallMinutes(localTime(c, zone)) === target) return c;
  // The time falls into a gap: search the minute the clock first reads later than it.
  let lo = Math.floor(Math.max(candidates[0] ?? naive, notBefore) / MINUTE_MS);
  let hi = Math.ceil((candidates[1] ?? naive) / MINUTE_MS);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallMinutes(localTime(mid * MINUTE_MS, zone)) >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo * MINUTE_MS;
}

/** Local minus UTC, in milliseconds, at an instant (minute precision: no zone in use has odd seconds). */
export function offsetAt(at: number, zone: string): number {
  const floored = Math.floor(at / MINUTE_MS);
  return (wallMinutes(localTime(floored * MINUTE_MS, zone)) - floored) * MINUTE_MS;
}

/** The first instant strictly after `after` at which the zone's wall clock shows `minute` (past midnight). */
export function nextWallTime(after: number, minute: number, zone: string): number {
  const today = localTime(after, zone).day;
  for (let day = today; day <= today + 2; day++) {
    const at = firstInstantAtWall(day, minute, zone, after + 1);
    if (at > after) return at;
  }
  return after + 86_400_000;
}

export function formatLocal(at: number, zone: string): string {
  const t = localTime(at, zone);
  const date = new Date(t.day * 86_400_000).toISOString().slice(0, 10);
  return `${date} ${formatMinute(t.minute)} ${zone}`;
}

export function formatMinute(minute: number): string {
  const h = Math.floor(minute / 60);
  const m = minute % 60;
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
}
