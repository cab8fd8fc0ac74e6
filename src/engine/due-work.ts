// Which stages of the engine have work due, in one statement: a pass skips the transactions of stages with
// nothing to do, and a round that finds nothing due at all costs one query instead of a transaction per stage.
// Each condition is the one its stage claims by, shared with the claim, so the probe cannot miss work the claim
// would take. Rows another worker holds still count as due here: that stage then claims nothing, as before.
import type { Queryable } from "../store/db.ts";
import { MEMBERSHIP_DUE_SQL } from "../store/memberships.ts";
import { DECIDE_DUE_SQL, SEND_DUE_SQL } from "../store/messages.ts";
import { ENTRY_DUE_SQL } from "../store/scenario-entries.ts";
import { WEBHOOK_DUE_SQL } from "../store/webhook-calls.ts";
import { SCHEDULE_DUE_SQL } from "./schedules.ts";

export interface DueWork {
  memberships: boolean;
  schedules: boolean;
  inbox: boolean;
  entries: boolean;
  decide: boolean;
  send: boolean;
  webhooks: boolean;
}

// Each check takes the first row in its claim's order (the claim's index), not an EXISTS: under a generic plan the
// planner ran an EXISTS as a sequential scan, reading every time-driven membership check not yet due.
const first = (table: string, where: string, order: string) =>
  `(SELECT 1 FROM ${table} WHERE ${where} ORDER BY ${order} LIMIT 1) IS NOT NULL`;
const PROBE_SQL = `SELECT
  ${first("membership_due", MEMBERSHIP_DUE_SQL, "due_at")} AS memberships,
  ${first("scenario_schedules", SCHEDULE_DUE_SQL, "next_at")} AS schedules,
  ${first("engine_inbox", "true", "inbox_id")} AS inbox,
  ${first("scenario_entries", ENTRY_DUE_SQL, "due_at")} AS entries,
  ${first("messages m", DECIDE_DUE_SQL, "m.due_at")} AS decide,
  ${first("messages", SEND_DUE_SQL, "due_at")} AS send,
  ${first("webhook_calls", WEBHOOK_DUE_SQL, "due_at")} AS webhooks`;

/** What is due at `now`; `leaseBefore`: a message `sending` since before it has lost its worker. */
export async function dueWork(client: Queryable, now: Date, leaseBefore: Date): Promise<DueWork> {
  const { rows } = await client.query<DueWork>(PROBE_SQL, [now, leaseBefore]);
  const r = rows[0];
  if (!r) throw new Error("the due-work probe returned no row");
  return r;
}
