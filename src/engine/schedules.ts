// Scheduled scenarios (one-off and recurring broadcasts) in the customer's local time. For each occurrence (a
// calendar date and a time of day), every customer of the audience whom the entry rules admit enters, with the
// first step due at that date and time in their own time zone. An occurrence is taken up as soon as the first time
// zone on Earth reaches it (UTC+14), so every customer's local moment is still ahead.
import { bucketOf } from "../core/experiment/index.ts";
import { chooseTimeZone, firstInstantAtWall } from "../core/time-zone.ts";
import { compileSelection } from "../store/condition-sql.ts";
import type { Queryable } from "../store/customers.ts";
import { globalControlPeriods } from "../store/global-control.ts";
import { insertEntries, type NewEntry } from "../store/scenario-entries.ts";
import type { Scenario, Schedule, Strategy } from "../strategy/types.ts";
import { entryArms } from "./entry-arms.ts";
import type { RunningStrategy, StrategyCache } from "./strategy-cache.ts";

const DAY = 86_400_000;
const EARLIEST_OFFSET = 14 * 3_600_000; // Line Islands, UTC+14
const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

/** The date (YYYY-MM-DD) of the first occurrence strictly after `after` (a date), or on/after `from` (an instant). */
export function nextOccurrence(s: Schedule, after: string | null, from: Date): string | null {
  const start =
    after === null ? dayOf(from.getTime() - EARLIEST_OFFSET) : dayOf(Date.parse(`${after}T00:00:00Z`) + DAY);
  if (s.kind === "once") return after === null && s.date >= start ? s.date : null;
  for (let d = Date.parse(`${start}T00:00:00Z`), i = 0; i < 400; i++, d += DAY) {
    const date = new Date(d);
    const every = s.every;
    if (every === "day") return dayOf(d);
    if (every === "week" && (after === null || (d - Date.parse(`${after}T00:00:00Z`)) % (7 * DAY) === 0))
      return dayOf(d);
    if (every === "month" && (after === null || date.getUTCDate() === Number(after.slice(8, 10))))
      return dayOf(d);
    if (WEEKDAYS[date.getUTCDay()] === every) return dayOf(d);
  }
  return null;
}

/** When an occurrence is taken up: the first moment any time zone reaches it. */
export function takenUpAt(date: string, minuteOfDay: number): Date {
  return new Date(Date.parse(`${date}T00:00:00Z`) + minuteOfDay * 60_000 - EARLIEST_OFFSET);
}

/** The instant a local date and time happens in a zone (on a DST gap, the moment the clocks jump). */
export function localInstant(date: string, minuteOfDay: number, tz: string): Date {
  return new Date(firstInstantAtWall(Date.parse(`${date}T00:00:00Z`) / DAY, minuteOfDay, tz));
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Keeps one row per scheduled scenario of the version in force, pointing at its next occurrence. */
export async function syncSchedules(
  client: Queryable,
  ws: number,
  version: number,
  strategy: Strategy,
  now: Date,
) {
  const scheduled = Object.values(strategy.scenarios).filter((s) => s.trigger.kind === "schedule");
  await client.query(
    "DELETE FROM scenario_schedules WHERE workspace_id = $1 AND NOT (scenario = ANY($2::text[]))",
    [ws, scheduled.map((s) => s.name)],
  );
  for (const sc of scheduled) {
    if (sc.trigger.kind !== "schedule") continue;
    const date = nextOccurrence(sc.trigger.schedule, null, now);
    await client.query(
      `INSERT INTO scenario_schedules (workspace_id, scenario, version, next_at, next_date)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (workspace_id, scenario) DO UPDATE SET version = $3,
         next_at = CASE WHEN scenario_schedules.last_date IS NULL THEN $4 ELSE scenario_schedules.next_at END,
         next_date = CASE WHEN scenario_schedules.last_date IS NULL THEN $5 ELSE scenario_schedules.next_date END`,
      [ws, sc.name, version, date ? takenUpAt(date, sc.trigger.schedule.minuteOfDay) : null, date],
    );
  }
}

export type Enter = (customerIds: readonly string[]) => Promise<void>;

/** A schedule whose next occurrence has come at `$1` (here and in the engine's probe, engine/due-work.ts). */
export const SCHEDULE_DUE_SQL = "next_at <= $1";

/** Takes up every occurrence due at `now`: the audience enters; returns how many customers entered. */
export async function runDueSchedules(client: Queryable, cache: StrategyCache, now: Date): Promise<number> {
  const { rows } = await client.query<{ workspace_id: number; scenario: string; next_date: string }>(
    `SELECT workspace_id, scenario, next_date FROM scenario_schedules
      WHERE ${SCHEDULE_DUE_SQL} ORDER BY next_at LIMIT 10 FOR UPDATE SKIP LOCKED`,
    [now],
  );
  let entered = 0;
  for (const r of rows) {
    const rs = await cache.current(client, r.workspace_id);
    const sc = rs?.strategy.scenarios[r.scenario];
    if (!rs || !sc || sc.trigger.kind !== "schedule") {
      await client.query("DELETE FROM scenario_schedules WHERE workspace_id = $1 AND scenario = $2", [
        r.workspace_id,
        r.scenario,
      ]);
      continue;
    }
    const schedule = sc.trigger.schedule;
    // Occurrences the clock has passed (workers down for days, a clock moved forward) are not taken up one by
    // one: only the latest that has come due, so a weekly digest missed three times goes out once, not three times.
    let date = r.next_date;
    for (
      let later = nextOccurrence(schedule, date, now);
      later !== null && takenUpAt(later, schedule.minuteOfDay) <= now;
      later = nextOccurrence(schedule, later, now)
    )
      date = later;
    entered += await enterOccurrence(client, cache, r.workspace_id, rs, sc, date, schedule.minuteOfDay, now);
    const next = nextOccurrence(schedule, date, now);
    await client.query(
      `UPDATE scenario_schedules SET last_date = $3, last_at = $4, next_date = $5, next_at = $6
        WHERE workspace_id = $1 AND scenario = $2`,
      [r.workspace_id, r.scenario, date, now, next, next ? takenUpAt(next, schedule.minuteOfDay) : null],
    );
  }
  return entered;
}

/** Set-wise entry of the audience: who may enter is one query; pilot sampling and variants are by hash. */
async function enterOccurrence(
  client: Queryable,
  cache: StrategyCache,
  ws: number,
  rs: RunningStrategy,
  sc: Scenario,
  date: string,
  minuteOfDay: number,
  now: Date,
): Promise<number> {
  const conditions = sc.audience ? [sc.audience.ast] : [];
  const q = compileSelection({
    workspaceId: ws,
    now,
    env: rs.env,
    conditions,
    withStage: false,
    withNextChange: false,
  });
  const reentry = sc.reentryMs === null ? null : new Date(now.getTime() - sc.reentryMs);
  const { rows } = await client.query<{ customer_id: string; timezone: string | null }>(
    `SELECT s.customer_id, c.timezone FROM (${q.text}) s
       JOIN customers c ON c.workspace_id = $${q.values.length + 1} AND c.customer_id = s.customer_id
      WHERE ${conditions.length > 0 ? "s.c0 AND" : ""} NOT EXISTS (
        SELECT 1 FROM scenario_entries e WHERE e.workspace_id = c.workspace_id AND e.customer_id = c.customer_id
           AND e.scenario = $${q.values.length + 2}
           AND (e.state = 'active' OR $${q.values.length + 3}::timestamptz IS NULL OR e.entered_at > $${q.values.length + 3}))`,
    [...q.values, ws, sc.name, reentry],
  );
  const salt = await cache.salt(client, ws);
  const armOf = await entryArms(client, ws, rs, sc, salt, await globalControlPeriods(client, ws), now);
  const first = sc.steps[0]?.id ?? null;
  const triggerEvent = { name: "schedule", occurred_at: now.toISOString(), properties: { date } };
  const entries: (NewEntry & { workspaceId: number; dueAt: Date })[] = [];
  const dueByZone = new Map<string, Date>();
  for (const r of rows) {
    if (sc.mode === "pilot" && bucketOf(salt, r.customer_id, `pilot:${sc.name}`) >= sc.sample * 10_000)
      continue;
    const tz = chooseTimeZone(r.timezone, rs.strategy.timezone).zone;
    let at = dueByZone.get(tz);
    if (!at) {
      at = localInstant(date, minuteOfDay, tz);
      dueByZone.set(tz, at);
    }
    const arm = armOf(r.customer_id);
    entries.push({
      workspaceId: ws,
      customerId: r.customer_id,
      scenario: sc.name,
      version: rs.version,
      stepId: first,
      dueAt: at < now ? now : at,
      variant: arm.variant,
      globalControl: arm.globalControl,
      triggerEvent,
    });
  }
  await insertEntries(client, entries, now);
  return entries.length;
}
