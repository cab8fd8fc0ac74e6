// Messages: every planned communication with its fate and the reason for it. A send step plans a message; the
// outbox decides it by the communication rules at the moment of sending, then sends it through its channel.
import type { ChannelEngagement, SentMessage } from "../core/rules/index.ts";
import { byCustomer } from "./by-customer.ts";
import type { Queryable } from "./customers.ts";
import { CUSTOMER_LOCK_SQL } from "./decision-locks.ts";

export type Fate =
  | "planned"
  | "suppressed"
  | "deferred"
  | "awaiting_approval"
  | "rejected"
  | "queued"
  | "sending"
  | "sent"
  | "delivered"
  | "opened"
  | "clicked"
  | "failed"
  | "bounced";

export interface PlannedMessage {
  customerId: string;
  scenario: string;
  entryId: string;
  stepId: string;
  kind: "marketing" | "transactional";
  template: string;
  variant: string | null;
  priority: number;
  /** planned (decided at due time), or awaiting_approval in pilot mode */
  fate: "planned" | "awaiting_approval" | "suppressed";
  reason?: string | null;
  /** the survey a `survey` step sends (`nps`); the sender adds its answer links */
  survey?: string | null;
}

/** Plans messages, once per (entry, step): a second attempt for the same step is ignored. */
export async function planMessages(
  client: Queryable,
  messages: readonly (PlannedMessage & { workspaceId: number })[],
  at: Date,
): Promise<void> {
  if (messages.length === 0) return;
  await client.query({
    name: "tact-plan-messages",
    text: `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, kind, template, variant,
                                 fate, reason, priority, planned_at, due_at, updated_at, survey)
     SELECT d.ws, d.c, d.s, d.e, d.step, d.kind, d.t, d.variant, d.fate, d.reason, d.p, $1,
            CASE WHEN d.fate = 'planned' THEN $1::timestamptz END, $1, d.survey
       FROM json_to_recordset($2::json) AS d(ws integer, c bigint, s text, e bigint, step text, kind text, t text,
                                             variant text, fate text, reason text, p integer, survey text)
     ON CONFLICT (workspace_id, entry_id, step_id) DO NOTHING`,
    values: [
      at,
      JSON.stringify(
        messages.map((m) => ({
          ws: m.workspaceId,
          c: m.customerId,
          s: m.scenario,
          e: m.entryId,
          step: m.stepId,
          kind: m.kind,
          t: m.template,
          variant: m.variant,
          fate: m.fate,
          reason: m.reason ?? null,
          p: m.priority,
          survey: m.survey ?? null,
        })),
      ),
    ],
  });
}

export interface MessageRecord {
  messageId: string;
  scenario: string;
  stepId: string;
  kind: string;
  channel: string | null;
  template: string;
  variant: string | null;
  fate: Fate;
  reason: string | null;
  plannedAt: Date;
  dueAt: Date | null;
  sentAt: Date | null;
  attempts: number;
  lastError: string | null;
  cost: number;
}

/** A customer's messages, newest first: every one, with its fate and the reason for it. */
export async function customerMessages(
  client: Queryable,
  workspaceId: number,
  customerId: string,
  limit = 500,
): Promise<MessageRecord[]> {
  const { rows } = await client.query<{
    message_id: string;
    scenario: string;
    step_id: string;
    kind: string;
    channel: string | null;
    template: string;
    variant: string | null;
    fate: Fate;
    reason: string | null;
    planned_at: Date;
    due_at: Date | null;
    sent_at: Date | null;
    attempts: number;
    last_error: string | null;
    cost: string;
  }>(
    `SELECT message_id, scenario, step_id, kind, channel, template, variant, fate, reason, planned_at, due_at,
            sent_at, attempts, last_error, cost
       FROM messages WHERE workspace_id = $1 AND customer_id = $2 ORDER BY planned_at DESC, message_id DESC LIMIT $3`,
    [workspaceId, customerId, limit],
  );
  return rows.map((r) => ({
    messageId: r.message_id,
    scenario: r.scenario,
    stepId: r.step_id,
    kind: r.kind,
    channel: r.channel,
    template: r.template,
    variant: r.variant,
    fate: r.fate,
    reason: r.reason,
    plannedAt: r.planned_at,
    dueAt: r.due_at,
    sentAt: r.sent_at,
    attempts: r.attempts,
    lastError: r.last_error,
    cost: Number(r.cost),
  }));
}

// The outbox: deciding due messages, then sending the queued ones.

/** A message due for its decision, with what its journey recorded at entry. */
export interface DueMessage {
  workspace_id: number;
  message_id: string;
  customer_id: string;
  scenario: string;
  step_id: string;
  kind: "marketing" | "transactional";
  template: string;
  priority: number;
  planned_at: Date;
  version: number;
  variant: string | null;
  global_control: boolean | null;
}

/** A planned or deferred message due to be decided at `$1` (the claim below and the engine's probe). */
export const DECIDE_DUE_SQL = "m.fate IN ('planned', 'deferred') AND m.due_at <= $1";

/**
 * Planned and deferred messages whose time has come, locked until the caller's transaction ends: the first `limit`
 * by due time, and every other due message of their customers with them, so a customer's messages due together are
 * judged in one round (by priority) even where the limit falls between them. Each customer's decision lock
 * (store/decision-locks.ts) is tried before any of their messages is taken: a customer another round or worker
 * holds is skipped, not waited for, and no two rounds ever split one customer's due messages between them.
 */
export async function claimDueDecisions(client: Queryable, now: Date, limit: number): Promise<DueMessage[]> {
  const { rows } = await client.query<DueMessage>({
    name: "tact-claim-decide",
    text: `WITH first AS (
         SELECT m.workspace_id, m.customer_id FROM messages m
          WHERE ${DECIDE_DUE_SQL}
            AND pg_try_advisory_xact_lock(${CUSTOMER_LOCK_SQL})
          ORDER BY m.due_at LIMIT $2 FOR UPDATE OF m SKIP LOCKED
       ), claimed AS (
         -- by customer, through the customer index: the due messages of a broadcast are many, its customers' few
         SELECT m.* FROM (SELECT DISTINCT workspace_id, customer_id FROM first) c
          CROSS JOIN LATERAL (
            SELECT m.workspace_id, m.message_id, m.customer_id, m.scenario, m.step_id, m.kind, m.template,
                   m.priority, m.planned_at, m.entry_id
              FROM messages m
             WHERE m.workspace_id = c.workspace_id AND m.customer_id = c.customer_id
               AND ${DECIDE_DUE_SQL}
               FOR UPDATE OF m SKIP LOCKED) m
       )
       SELECT m.workspace_id, m.message_id, m.customer_id, m.scenario, m.step_id, m.kind, m.template, m.priority,
              m.planned_at, e.version, e.variant, e.global_control
         FROM claimed m JOIN scenario_entries e ON e.workspace_id = m.workspace_id AND e.entry_id = m.entry_id`,
    values: [now, limit],
  });
  return rows;
}

/** A decided message as written back: its fate, reason, channel, next due time, trace and cost. */
export interface DecidedFate {
  id: string;
  ws: number;
  fate: string;
  reason: string | null;
  channel: string | null;
  due: Date | null;
  trace: string | null;
  cost: number;
}

/** Writes the round's fates in one statement. */
export async function writeFates(client: Queryable, fates: readonly DecidedFate[], now: Date): Promise<void> {
  if (fates.length === 0) return;
  await client.query({
    // planned at each run, with the table as it is now: see "Kept plans" in store/db.ts
    text: `UPDATE messages m SET fate = d.fate, reason = d.reason, channel = d.channel, due_at = d.due,
              decision = d.trace::jsonb, cost = d.cost, updated_at = $1
         FROM json_to_recordset($2::json) AS d(ws integer, id bigint, fate text, reason text, channel text,
                                               due timestamptz, trace text, cost numeric)
        WHERE m.workspace_id = d.ws AND m.message_id = d.id`,
    values: [now, JSON.stringify(fates)],
  });
}

/** Each customer's messages sent on a channel since `since` (for the frequency rules); queued ones count as sent. */
export async function sentHistory(
  client: Queryable,
  ws: number,
  ids: readonly string[],
  since: Date,
): Promise<Map<string, SentMessage[]>> {
  const { rows } = await client.query<SentMessage & { customer_id: string }>({
    // planned at each run, with the table as it is now: see "Kept plans" in store/db.ts
    text: `SELECT customer_id, COALESCE(sent_at, updated_at) AS at, channel, kind FROM messages
      WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[]) AND channel IS NOT NULL
        AND fate IN ('queued', 'sending', 'sent', 'delivered', 'opened', 'clicked')
        AND COALESCE(sent_at, updated_at) > $3`,
    values: [ws, ids, since],
  });
  return byCustomer<SentMessage>(rows);
}

/** Each customer's messages, opens and clicks by channel since `since` (the arbiter's `best` reads six months). */
export async function engagementOf(
  client: Queryable,
  ws: number,
  ids: readonly string[],
  since: Date,
): Promise<Map<string, Record<string, ChannelEngagement>>> {
  const { rows } = await client.query<{
    customer_id: string;
    channel: string;
    messages: string;
    opens: string;
    clicks: string;
  }>({
    // planned at each run, with the table as it is now: see "Kept plans" in store/db.ts
    text: `SELECT customer_id, channel, count(*) AS messages,
            count(*) FILTER (WHERE fate IN ('opened', 'clicked')) AS opens,
            count(*) FILTER (WHERE fate = 'clicked') AS clicks
       FROM messages WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[]) AND sent_at > $3
        AND fate IN ('sent', 'delivered', 'opened', 'clicked') GROUP BY customer_id, channel`,
    values: [ws, ids, since],
  });
  const out = new Map<string, Record<string, ChannelEngagement>>();
  for (const r of rows) {
    const byChannel = out.get(r.customer_id) ?? {};
    byChannel[r.channel] = { messages: Number(r.messages), opens: Number(r.opens), clicks: Number(r.clicks) };
    out.set(r.customer_id, byChannel);
  }
  return out;
}

/** Sends counted against a channel's capacity and rate limits: queued or gone out on it since `since`. */
export async function channelSendsSince(
  client: Queryable,
  ws: number,
  channel: string,
  since: Date,
): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM messages WHERE workspace_id = $1 AND channel = $2
        AND fate IN ('queued', 'sending', 'sent', 'delivered', 'opened', 'clicked')
        AND COALESCE(sent_at, updated_at) >= $3`,
    [ws, channel, since],
  );
  return Number(rows[0]?.n ?? 0);
}

/** A message claimed for sending, with what rendering it needs of its journey. */
export interface ClaimedMessage {
  workspace_id: number;
  message_id: string;
  customer_id: string;
  scenario: string;
  kind: "marketing" | "transactional";
  channel: string;
  template: string;
  attempts: number;
  /** when it was first taken to be sent (this claim, on the first try) */
  first_tried_at: Date;
  version: number;
  entered_at: Date;
  trigger_event: Record<string, unknown> | null;
  context: Record<string, unknown>;
  survey: string | null;
}

/** A message due to be sent at `$1`, or one whose sending lease ended before `$2` (see below). */
export const SEND_DUE_SQL = "((fate = 'queued' AND due_at <= $1) OR (fate = 'sending' AND updated_at < $2))";

/**
 * Queued messages whose time has come, and `sending` ones whose lease ended before `leaseBefore` (their worker
 * stopped): marked `sending` by `claimedBy` (the claiming process) with one more attempt, committed by the caller
 * before the provider is called.
 */
export async function claimForSending(
  client: Queryable,
  now: Date,
  leaseBefore: Date,
  limit: number,
  claimedBy: string,
): Promise<ClaimedMessage[]> {
  const { rows } = await client.query<ClaimedMessage>(
    `WITH due AS (
       SELECT workspace_id, message_id FROM messages
        WHERE ${SEND_DUE_SQL}
        ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
     UPDATE messages m SET fate = 'sending', attempts = m.attempts + 1, updated_at = $1, claimed_by = $4,
                           first_tried_at = COALESCE(m.first_tried_at, $1)
       FROM due, scenario_entries e
      WHERE m.workspace_id = due.workspace_id AND m.message_id = due.message_id
        AND e.workspace_id = m.workspace_id AND e.entry_id = m.entry_id
     RETURNING m.workspace_id, m.message_id, m.customer_id, m.scenario, m.kind, m.channel, m.template, m.attempts,
               m.first_tried_at, e.version, e.entered_at, e.trigger_event, e.context, m.survey`,
    [now, leaseBefore, limit, claimedBy],
  );
  return rows;
}

/**
 * A send's outcome: sent (with the provider's id), queued again at `due`, or failed with the reason. `untried`:
 * the provider was not called (the message waits for quiet hours to end), so the claim's try is given back.
 */
export interface SendOutcome {
  ws: number;
  id: string;
  fate: "sent" | "queued" | "failed";
  provider?: string | null;
  summary?: unknown;
  error: string | null;
  due?: Date;
  untried?: boolean;
}

/** Writes outcomes of messages still `sending`, in one statement. */
export async function recordSends(
  client: Queryable,
  outcomes: readonly SendOutcome[],
  now: Date,
): Promise<void> {
  await client.query({
    // planned at each run, with the table as it is now: see "Kept plans" in store/db.ts
    text: `UPDATE messages m SET fate = d.fate,
              sent_at = CASE WHEN d.fate = 'sent' THEN $1 ELSE m.sent_at END,
              provider_id = CASE WHEN d.fate = 'sent' THEN d.provider ELSE m.provider_id END,
              summary = CASE WHEN d.fate = 'sent' THEN d.summary ELSE m.summary END,
              reason = CASE WHEN d.fate = 'failed' THEN d.error ELSE m.reason END,
              due_at = CASE WHEN d.fate = 'queued' THEN d.due ELSE m.due_at END,
              attempts = m.attempts - CASE WHEN d.untried THEN 1 ELSE 0 END,
              first_tried_at = CASE WHEN d.untried AND m.attempts = 1 THEN NULL ELSE m.first_tried_at END,
              last_error = d.error, updated_at = $1
       FROM json_to_recordset($2::json) AS d(ws integer, id bigint, was text, fate text, provider text,
                                             summary jsonb, error text, due timestamptz, untried boolean)
      WHERE m.workspace_id = d.ws AND m.message_id = d.id AND m.fate = d.was`,
    // `was` is a column rather than a constant so each row is found by its key: a constant fate lets the planner
    // pick the outbox's partial index and read every queued message
    values: [now, JSON.stringify(outcomes.map((o) => ({ ...o, was: "sending" })))],
  });
}
