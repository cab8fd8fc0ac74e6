// The scenario `webhook` step. Planning: when a journey reaches the step, the body is rendered (Liquid in its
// strings, strictly, with the customer, the trigger event and the scenario) and one call is written to the
// `webhook_calls` outbox in the journey's own transaction, once per (entry, step); the journey goes on at once.
// Sending: every engine round claims due calls (committed as `sending` under a lease), makes the signed HTTP
// request and records the outcome — sent, planned again after a backoff, or failed — with an event on the customer.
// A worker killed mid-call leaves the call `sending`; after the lease it is made again (at least once), with the
// same delivery id so the receiver can drop the duplicate.
import type { Logger } from "pino";
import {
  callWebhook,
  type WebhookResult,
  type WebhookTransport,
  webhookUrlProblem,
} from "../channels/webhook/webhook-http.ts";
import type { Queryable } from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import { copyToInbox } from "../store/engine-inbox.ts";
import { insertEvents } from "../store/events.ts";
import { markDue } from "../store/memberships.ts";
import { lockCustomer } from "../store/message-feedback.ts";
import { ensureEventPartitions } from "../store/partitions.ts";
import type { Entry } from "../store/scenario-entries.ts";
import { loadFacts } from "../store/subjects.ts";
import {
  type ClaimedWebhookCall,
  claimDueWebhookCalls,
  insertWebhookCall,
  recordWebhookOutcome,
  type WebhookCallOutcome,
} from "../store/webhook-calls.ts";
import type { Step, Strategy } from "../strategy/types.ts";
import { drain, inLanes } from "./lanes.ts";
import { renderJsonValue, type TriggerEvent } from "./render/render-message.ts";

/** Largest rendered body: far above any real payload, far below what would hurt a worker or a receiver. */
export const MAX_WEBHOOK_BODY_CHARS = 1_000_000;

export interface WebhookPlan {
  entry: Pick<
    Entry,
    "workspaceId" | "entryId" | "customerId" | "scenario" | "enteredAt" | "triggerEvent" | "context"
  >;
  step: Extract<Step, { kind: "webhook" }>;
  strategy: Pick<Strategy, "name" | "currency" | "timezone">;
  now: Date;
}

/**
 * Plans the step's call in the caller's transaction: the body rendered now, or the call recorded `failed` with
 * the reason (a missing variable, a bad URL) and never made. Returns false when the step had planned it already.
 */
export async function planWebhookCall(client: Queryable, ws: number, p: WebhookPlan): Promise<boolean> {
  const { entry, step, now } = p;
  const rendered = await renderedBody(client, ws, p);
  return insertWebhookCall(
    client,
    ws,
    {
      customerId: entry.customerId,
      scenario: entry.scenario,
      entryId: entry.entryId,
      stepId: step.id,
      url: step.url,
      method: step.method,
      secretEnv: step.secretEnv,
      ...rendered,
    },
    now,
  );
}

async function renderedBody(
  client: Queryable,
  ws: number,
  { entry, step, strategy, now }: WebhookPlan,
): Promise<{ body: string | null; failure?: string }> {
  const urlProblem = webhookUrlProblem(step.url);
  if (urlProblem) return { body: null, failure: urlProblem };
  const customer = (await loadFacts(client, ws, [entry.customerId])).get(entry.customerId);
  if (!customer) return { body: null, failure: "the customer no longer exists" };
  // Without a body, the receiver still learns who and where.
  const value = step.body ?? {
    scenario: entry.scenario,
    step: step.id,
    customer_id: entry.customerId,
    user_id: customer.user_id,
  };
  const r = await renderJsonValue(value, {
    customer,
    event: entry.triggerEvent as TriggerEvent | null,
    scenario: { name: entry.scenario, context: entry.context, entered_at: entry.enteredAt },
    strategy: { name: strategy.name, currency: strategy.currency, timezone: strategy.timezone },
    now,
  });
  if (!r.ok) return { body: null, failure: `body: ${r.reason}` };
  const body = JSON.stringify(r.value) ?? "null";
  if (body.length > MAX_WEBHOOK_BODY_CHARS)
    return {
      body: null,
      failure: `body: the rendered body is longer than ${MAX_WEBHOOK_BODY_CHARS} characters`,
    };
  return { body };
}

export interface WebhookSenderOptions {
  /** where `secret_env` names are read */
  env?: NodeJS.ProcessEnv;
  logger?: Logger | undefined;
  /** calls in flight at once */
  concurrency?: number;
  /** a call `sending` for longer than this is considered interrupted and made again */
  leaseMs?: number;
  /** tries before a call that keeps being refused for the time being is `failed` */
  maxAttempts?: number;
  /** the HTTP client (tests and simulation answer without a network) */
  transport?: WebhookTransport;
  /** jitter of retry delays */
  random?: () => number;
  timeoutMs?: number;
}

export class WebhookSender {
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #maxAttempts: number;

  constructor(
    private readonly db: Db,
    private readonly opts: WebhookSenderOptions = {},
  ) {
    this.#concurrency = opts.concurrency ?? 8;
    this.#leaseMs = opts.leaseMs ?? 5 * 60_000;
    this.#maxAttempts = opts.maxAttempts ?? 8;
  }

  /** Makes every call due at `now`; returns how many were tried. */
  async runOnce(now: Date): Promise<number> {
    return drain(() => this.batch(now));
  }

  /** Claims one batch of due calls and makes them; returns how many. */
  async batch(now: Date): Promise<number> {
    const leaseUntil = new Date(now.getTime() + this.#leaseMs);
    const claimed = await withTransaction(this.db, (c) =>
      claimDueWebhookCalls(c, now, leaseUntil, this.#concurrency * 4),
    );
    await inLanes(claimed, this.#concurrency, (call) => this.#callOne(call, now));
    return claimed.length;
  }

  async #callOne(call: ClaimedWebhookCall, now: Date): Promise<void> {
    const outcome = this.#outcome(call, await this.#attempt(call, now), now);
    if (outcome.state !== "planned") await ensureEventPartitions(this.db, [now]);
    const recorded = await withTransaction(this.db, async (c) => {
      const ok = await recordWebhookOutcome(c, call, outcome, now);
      if (ok && outcome.state !== "planned") await recordCustomerEvent(c, call, outcome, now);
      return ok;
    });
    if (!recorded) return;
    const log = {
      workspace: call.workspaceId,
      call: call.callId,
      scenario: call.scenario,
      step: call.stepId,
      attempt: call.attempts,
      state: outcome.state,
      status: outcome.status,
    };
    if (outcome.state === "failed")
      this.opts.logger?.warn({ ...log, reason: outcome.reason }, "webhook failed");
    else this.opts.logger?.info(log, outcome.state === "sent" ? "webhook sent" : "webhook to be retried");
  }

  async #attempt(call: ClaimedWebhookCall, now: Date): Promise<WebhookResult> {
    let secret: string | null = null;
    if (call.secretEnv !== null) {
      secret = (this.opts.env ?? process.env)[call.secretEnv] ?? "";
      if (secret === "") {
        return {
          status: "failed",
          reason: `secret_env: the environment variable ${call.secretEnv} is not set`,
          httpStatus: null,
        };
      }
    }
    return callWebhook(
      {
        url: call.url,
        method: call.method,
        body: call.body,
        deliveryId: call.callId,
        secret,
        at: now,
        attempt: call.attempts,
      },
      {
        ...(this.opts.transport ? { transport: this.opts.transport } : {}),
        ...(this.opts.random ? { random: this.opts.random } : {}),
        ...(this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {}),
      },
    ).catch(
      // callWebhook maps every failure to a result; a throw here is a bug, and the call is kept for a retry
      (err: unknown): WebhookResult => ({
        status: "retry",
        afterMs: 60_000,
        reason: `internal: ${(err as Error).message}`,
        httpStatus: null,
      }),
    );
  }

  #outcome(call: ClaimedWebhookCall, r: WebhookResult, now: Date): WebhookCallOutcome {
    if (r.status === "sent") return { state: "sent", status: r.httpStatus };
    if (r.status === "failed") return { state: "failed", status: r.httpStatus, reason: r.reason };
    if (call.attempts < this.#maxAttempts) {
      const dueAt = new Date(now.getTime() + r.afterMs);
      return { state: "planned", dueAt, status: r.httpStatus, reason: r.reason };
    }
    return {
      state: "failed",
      status: r.httpStatus,
      reason: `gave up after ${call.attempts} tries: ${r.reason}`,
    };
  }
}

/**
 * `webhook_sent` / `webhook_failed` on the customer (followed through a merge; none for an erased customer), so a
 * scenario can wait for or branch on it and the customer's history shows it.
 */
async function recordCustomerEvent(
  client: Queryable,
  call: ClaimedWebhookCall,
  o: Exclude<WebhookCallOutcome, { state: "planned" }>,
  at: Date,
): Promise<void> {
  const customerId = await lockCustomer(client, call.workspaceId, call.customerId, false);
  if (!customerId) return;
  const name = o.state === "sent" ? "webhook_sent" : "webhook_failed";
  const properties: Record<string, unknown> = {
    call_id: call.callId,
    scenario: call.scenario,
    step_id: call.stepId,
    status: o.status,
    attempts: call.attempts,
  };
  if (o.state === "failed") properties.reason = o.reason;
  const messageId = `tact:${name}:${call.callId}`;
  const propertiesJson = JSON.stringify(properties);
  await insertEvents(client, call.workspaceId, [
    {
      customerId,
      messageId,
      type: "track",
      name,
      occurredAt: at,
      receivedAt: at,
      propertiesJson,
      contextJson: null,
    },
  ]);
  await copyToInbox(
    client,
    call.workspaceId,
    [{ customerId, name, messageId, occurredAt: at, properties }],
    at,
  );
  await markDue(client, call.workspaceId, new Map([[customerId, new Set([`event:${name}`])]]), at);
}
