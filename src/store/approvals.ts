// The approval queue of pilot scenarios: messages that wait for a person (fate `awaiting_approval`), and the
// person's verdict. Approving hands a message back to the outbox as `planned`, due now, so it still passes every
// communication rule; rejecting ends it. Each verdict and the audit row naming who gave it are one statement, so a
// message is never decided without a record of who decided it.
import type { Queryable } from "./customers.ts";

export interface PendingApproval {
  messageId: string;
  customerId: string;
  userId: string | null;
  email: string | null;
  scenario: string;
  stepId: string;
  kind: string;
  template: string;
  variant: string | null;
  plannedAt: Date;
}

export interface ApprovalQuery {
  scenario?: string | undefined;
  /** only messages with a larger id: the page after the one that ended with this id */
  after?: string | undefined;
  limit: number;
}

/** Messages waiting for approval, oldest first. */
export async function listApprovals(
  client: Queryable,
  workspaceId: number,
  q: ApprovalQuery,
): Promise<PendingApproval[]> {
  const { rows } = await client.query<{
    message_id: string;
    customer_id: string;
    user_id: string | null;
    email: string | null;
    scenario: string;
    step_id: string;
    kind: string;
    template: string;
    variant: string | null;
    planned_at: Date;
  }>(
    `SELECT m.message_id, m.customer_id, c.user_id, c.email, m.scenario, m.step_id, m.kind, m.template, m.variant,
            m.planned_at
       FROM messages m
       LEFT JOIN customers c ON c.workspace_id = m.workspace_id AND c.customer_id = m.customer_id
      WHERE m.workspace_id = $1 AND m.fate = 'awaiting_approval'
        AND ($2::text IS NULL OR m.scenario = $2) AND m.message_id > $3
      ORDER BY m.message_id LIMIT $4`,
    [workspaceId, q.scenario ?? null, q.after ?? "0", q.limit],
  );
  return rows.map((r) => ({
    messageId: r.message_id,
    customerId: r.customer_id,
    userId: r.user_id,
    email: r.email,
    scenario: r.scenario,
    stepId: r.step_id,
    kind: r.kind,
    template: r.template,
    variant: r.variant,
    plannedAt: r.planned_at,
  }));
}

/** How many messages wait for approval, per scenario. */
export async function approvalCounts(client: Queryable, workspaceId: number): Promise<Map<string, number>> {
  const { rows } = await client.query<{ scenario: string; n: string }>(
    `SELECT scenario, count(*) AS n FROM messages WHERE workspace_id = $1 AND fate = 'awaiting_approval'
      GROUP BY scenario ORDER BY scenario`,
    [workspaceId],
  );
  return new Map(rows.map((r) => [r.scenario, Number(r.n)]));
}

export type Verdict = { action: "approve" } | { action: "reject"; reason: string };

/** Why a message could not be decided: unknown here, or not waiting for approval (with its fate). */
export type VerdictRefusal =
  | { messageId: string; problem: "not_found" }
  | {
      messageId: string;
      problem: "not_awaiting_approval";
      fate: string;
    };

export interface VerdictOutcome {
  done: string[];
  refused: VerdictRefusal[];
}

const MESSAGE_ID = /^\d{1,18}$/;

/**
 * Gives a verdict on these messages; only those awaiting approval change. `actor` says who (an admin key, a CLI
 * user) and lands in the audit log beside the verdict.
 */
export async function decideApprovals(
  client: Queryable,
  workspaceId: number,
  messageIds: readonly string[],
  verdict: Verdict,
  actor: string,
  now: Date,
): Promise<VerdictOutcome> {
  // "007" and "7" name one message: ids are compared as the database prints them
  const ids = [...new Set(messageIds.map((id) => (MESSAGE_ID.test(id) ? String(BigInt(id)) : id)))];
  const valid = ids.filter((id) => MESSAGE_ID.test(id));
  const done = await applyVerdict(
    client,
    workspaceId,
    verdict,
    actor,
    now,
    "message_id = ANY($6::bigint[])",
    valid,
  );
  return { done, refused: await refusals(client, workspaceId, ids, new Set(done)) };
}

/** Approves every message of a scenario that awaits approval; returns their ids. */
export async function approveScenario(
  client: Queryable,
  workspaceId: number,
  scenario: string,
  actor: string,
  now: Date,
): Promise<string[]> {
  return applyVerdict(client, workspaceId, { action: "approve" }, actor, now, "scenario = $6", scenario);
}

async function applyVerdict(
  client: Queryable,
  workspaceId: number,
  verdict: Verdict,
  actor: string,
  now: Date,
  which: string,
  whichValue: unknown,
): Promise<string[]> {
  const approve = verdict.action === "approve";
  const reason = approve ? "approved" : verdict.reason;
  const record = JSON.stringify({
    approval: { verdict: verdict.action, by: actor, at: now.toISOString(), reason },
  });
  // Approved: planned and due now, so the outbox judges it by the rules like any other message.
  const { rows } = await client.query<{ message_id: string }>(
    `WITH done AS (
       UPDATE messages SET fate = $2, reason = $3, decision = $4::jsonb, due_at = CASE WHEN $2 = 'planned' THEN $5::timestamptz END,
              updated_at = $5
        WHERE workspace_id = $1 AND fate = 'awaiting_approval' AND ${which}
       RETURNING message_id, customer_id, scenario),
     logged AS (
       INSERT INTO audit_log (workspace_id, at, actor, action, target, details)
       SELECT $1, $5, $7, $8, message_id::text,
              jsonb_build_object('scenario', scenario, 'customer_id', customer_id::text, 'reason', $3::text)
         FROM done)
     SELECT message_id FROM done ORDER BY message_id`,
    [
      workspaceId,
      approve ? "planned" : "rejected",
      reason,
      record,
      now,
      whichValue,
      actor,
      approve ? "message.approve" : "message.reject",
    ],
  );
  return rows.map((r) => r.message_id);
}

async function refusals(
  client: Queryable,
  workspaceId: number,
  ids: readonly string[],
  done: ReadonlySet<string>,
): Promise<VerdictRefusal[]> {
  const rest = ids.filter((id) => !done.has(id));
  const valid = rest.filter((id) => MESSAGE_ID.test(id));
  const fates = new Map<string, string>();
  if (valid.length > 0) {
    const { rows } = await client.query<{ message_id: string; fate: string }>(
      "SELECT message_id, fate FROM messages WHERE workspace_id = $1 AND message_id = ANY($2::bigint[])",
      [workspaceId, valid],
    );
    for (const r of rows) fates.set(r.message_id, r.fate);
  }
  return rest.map((messageId): VerdictRefusal => {
    const fate = fates.get(messageId);
    return fate === undefined
      ? { messageId, problem: "not_found" }
      : { messageId, problem: "not_awaiting_approval", fate };
  });
}
