// Messages: every planned communication with its fate and the reason for it. A send step plans a message; the
// outbox decides it by the communication rules at the moment of sending, then sends it through its channel.
import type { Queryable } from "./customers.ts";

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

/** Plans a message once per (entry, step); a second attempt for the same step is ignored. */
export async function planMessage(
  client: Queryable,
  workspaceId: number,
  m: PlannedMessage,
  at: Date,
): Promise<boolean> {
  const res = await client.query(
    `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, kind, template, variant, fate,
                           reason, priority, planned_at, due_at, updated_at, survey)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $9 = 'planned' THEN $12::timestamptz END, $12,
             $13)
     ON CONFLICT (workspace_id, entry_id, step_id) DO NOTHING`,
    [
      workspaceId,
      m.customerId,
      m.scenario,
      m.entryId,
      m.stepId,
      m.kind,
      m.template,
      m.variant,
      m.fate,
      m.reason ?? null,
      m.priority,
      at,
      m.survey ?? null,
    ],
  );
  return (res.rowCount ?? 0) > 0;
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
