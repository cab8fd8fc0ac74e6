// Webhook calls: the outbox of scenario `webhook` steps. A step plans one call per (entry, step) — a unique key, so
// a repeated round plans nothing more; the engine's webhook sender claims due calls, marks them `sending` under a
// lease, and records what the receiver answered: sent, planned again for a retry, or failed.
import type { Queryable } from "./customers.ts";

export type WebhookCallState = "planned" | "sending" | "sent" | "failed";

export interface NewWebhookCall {
  customerId: string;
  scenario: string;
  entryId: string;
  stepId: string;
  url: string;
  method: "POST" | "PUT";
  /** the rendered JSON text; null when it could not be rendered (then `failure` says why) */
  body: string | null;
  secretEnv: string | null;
  /** set when the call is failed before any attempt (a body that cannot be rendered) */
  failure?: string;
}

/** Plans a call once per (entry, step); returns false when the step had planned it already. */
export async function insertWebhookCall(
  client: Queryable,
  workspaceId: number,
  c: NewWebhookCall,
  at: Date,
): Promise<boolean> {
  const failed = c.failure !== undefined;
  const res = await client.query(
    `INSERT INTO webhook_calls (workspace_id, customer_id, scenario, entry_id, step_id, url, method, body, secret_env,
                                state, due_at, last_error, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
     ON CONFLICT (workspace_id, entry_id, step_id) DO NOTHING`,
    [
      workspaceId,
      c.customerId,
      c.scenario,
      c.entryId,
      c.stepId,
      c.url,
      c.method,
      c.body,
      c.secretEnv,
      failed ? "failed" : "planned",
      failed ? null : at,
      c.failure ?? null,
      at,
    ],
  );
  return (res.rowCount ?? 0) > 0;
}

export interface ClaimedWebhookCall {
  workspaceId: number;
  callId: string;
  customerId: string;
  scenario: string;
  stepId: string;
  url: string;
  method: "POST" | "PUT";
  body: string;
  secretEnv: string | null;
  /** this attempt's number: 1 on the first */
  attempts: number;
}

/** A call due at `$1`, or one whose lease ran out by then (the claim below and the engine's probe). */
export const WEBHOOK_DUE_SQL = "state IN ('planned', 'sending') AND due_at <= $1";

/**
 * Claims calls that are due, and calls whose lease ran out (a worker stopped while it held them): marks them
 * `sending` until `leaseUntil`. Run it in its own short transaction so the claim is committed before any request.
 */
export async function claimDueWebhookCalls(
  client: Queryable,
  now: Date,
  leaseUntil: Date,
  limit: number,
): Promise<ClaimedWebhookCall[]> {
  const { rows } = await client.query<{
    workspace_id: number;
    call_id: string;
    customer_id: string;
    scenario: string;
    step_id: string;
    url: string;
    method: "POST" | "PUT";
    body: string;
    secret_env: string | null;
    attempts: number;
  }>(
    `WITH due AS (
       SELECT workspace_id, call_id FROM webhook_calls
        WHERE ${WEBHOOK_DUE_SQL}
        ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
     UPDATE webhook_calls w SET state = 'sending', attempts = w.attempts + 1, due_at = $2, updated_at = $1
       FROM due WHERE w.workspace_id = due.workspace_id AND w.call_id = due.call_id
     RETURNING w.workspace_id, w.call_id, w.customer_id, w.scenario, w.step_id, w.url, w.method, w.body,
               w.secret_env, w.attempts`,
    [now, leaseUntil, limit],
  );
  return rows.map((r) => ({
    workspaceId: r.workspace_id,
    callId: String(r.call_id),
    customerId: String(r.customer_id),
    scenario: r.scenario,
    stepId: r.step_id,
    url: r.url,
    method: r.method,
    body: r.body,
    secretEnv: r.secret_env,
    attempts: r.attempts,
  }));
}

export type WebhookCallOutcome =
  | { state: "sent"; status: number }
  | { state: "planned"; dueAt: Date; status: number | null; reason: string }
  | { state: "failed"; status: number | null; reason: string };

/**
 * Records the outcome of the attempt that claimed the call. Returns false when the call is no longer this
 * attempt's (its lease ran out and another worker took it): that worker's outcome stands.
 */
export async function recordWebhookOutcome(
  client: Queryable,
  call: Pick<ClaimedWebhookCall, "workspaceId" | "callId" | "attempts">,
  o: WebhookCallOutcome,
  now: Date,
): Promise<boolean> {
  const res = await client.query(
    `UPDATE webhook_calls
        SET state = $4, due_at = $5, response_status = $6, last_error = $7,
            sent_at = CASE WHEN $4 = 'sent' THEN $8::timestamptz ELSE sent_at END, updated_at = $8
      WHERE workspace_id = $1 AND call_id = $2 AND attempts = $3 AND state = 'sending'`,
    [
      call.workspaceId,
      call.callId,
      call.attempts,
      o.state,
      o.state === "planned" ? o.dueAt : null,
      o.status,
      o.state === "sent" ? null : o.reason,
      now,
    ],
  );
  return (res.rowCount ?? 0) > 0;
}

export interface WebhookCallRecord {
  callId: string;
  customerId: string;
  scenario: string;
  entryId: string;
  stepId: string;
  url: string;
  method: string;
  body: string | null;
  state: WebhookCallState;
  attempts: number;
  dueAt: Date | null;
  lastError: string | null;
  responseStatus: number | null;
  sentAt: Date | null;
  createdAt: Date;
}

/** One customer's calls, oldest first. */
export async function customerWebhookCalls(
  client: Queryable,
  workspaceId: number,
  customerId: string,
): Promise<WebhookCallRecord[]> {
  const { rows } = await client.query<Record<string, unknown>>(
    `SELECT call_id, customer_id, scenario, entry_id, step_id, url, method, body, state, attempts, due_at, last_error,
            response_status, sent_at, created_at
       FROM webhook_calls WHERE workspace_id = $1 AND customer_id = $2 ORDER BY call_id`,
    [workspaceId, customerId],
  );
  return rows.map((r) => ({
    callId: String(r.call_id),
    customerId: String(r.customer_id),
    scenario: r.scenario as string,
    entryId: String(r.entry_id),
    stepId: r.step_id as string,
    url: r.url as string,
    method: r.method as string,
    body: r.body as string | null,
    state: r.state as WebhookCallState,
    attempts: r.attempts as number,
    dueAt: r.due_at as Date | null,
    lastError: r.last_error as string | null,
    responseStatus: r.response_status as number | null,
    sentAt: r.sent_at as Date | null,
    createdAt: r.created_at as Date,
  }));
}

/** Calls by scenario and state, for the scenario statistics. */
export async function webhookCallCounts(
  client: Queryable,
  workspaceId: number,
): Promise<{ scenario: string; state: WebhookCallState; n: number }[]> {
  const { rows } = await client.query<{ scenario: string; state: WebhookCallState; n: string }>(
    "SELECT scenario, state, count(*) AS n FROM webhook_calls WHERE workspace_id = $1 GROUP BY 1, 2",
    [workspaceId],
  );
  return rows.map((r) => ({ scenario: r.scenario, state: r.state, n: Number(r.n) }));
}
