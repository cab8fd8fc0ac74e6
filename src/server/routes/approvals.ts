// Admin API where people and other systems act on the engine: the approval queue of pilot scenarios (list,
// approve, reject) and the API trigger that starts a scenario for one customer (receipts, password resets).
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { ScenarioRunner } from "../../engine/scenario-runner.ts";
import { StrategyCache } from "../../engine/strategy-cache.ts";
import { TransactionalTrigger, type TriggerOutcome, type TriggerTarget } from "../../engine/transactional.ts";
import { decideApprovals, listApprovals, type Verdict } from "../../store/approvals.ts";
import type { Db } from "../../store/db.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

export interface EngineHooks {
  /** called when work became due now (an approval, an entry), so a running engine can start at once */
  onWork?: () => void;
}

const ws = (p: Principal | undefined) => (p as Principal).workspace;
const actorOf = (p: Principal | undefined) => `admin key ${(p as Principal).keyId}`;

const approvalSchema = z.object({
  messageId: z.string(),
  customerId: z.string(),
  userId: z.string().nullable(),
  email: z.string().nullable(),
  scenario: z.string(),
  stepId: z.string(),
  kind: z.string(),
  template: z.string(),
  variant: z.string().nullable(),
  plannedAt: z.string(),
});

const messageParams = z.object({ messageId: z.string().regex(/^\d{1,18}$/, "a message id is a number") });

export function registerApprovals(api: ApiRegistry, db: Db, clock: Clock, hooks: EngineHooks = {}): void {
  api.route(
    {
      method: "GET",
      url: "/api/v1/approvals",
      summary: "Messages of pilot scenarios waiting for approval, oldest first; pass `next` back as `after`",
      tag: "approvals",
      auth: "admin",
      query: z.object({
        scenario: z.string().min(1).max(64).optional(),
        after: z
          .string()
          .regex(/^\d{1,18}$/, "a message id")
          .optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      response: z.object({ approvals: z.array(approvalSchema), next: z.string().nullable() }),
    },
    async ({ query, principal }) => {
      const list = await listApprovals(db.pool, ws(principal).id, query);
      const last = list.at(-1);
      return {
        approvals: list.map((a) => ({ ...a, plannedAt: a.plannedAt.toISOString() })),
        next: list.length === query.limit && last ? last.messageId : null,
      };
    },
  );

  api.route(
    {
      method: "POST",
      url: "/api/v1/approvals/{messageId}/approve",
      summary: "Approve a message awaiting approval: it is due now and still passes every communication rule",
      tag: "approvals",
      auth: "admin",
      params: messageParams,
      response: z.object({ messageId: z.string(), fate: z.literal("planned") }),
    },
    async ({ params, principal }) => {
      await verdictOn(db, clock, principal, params.messageId, { action: "approve" });
      hooks.onWork?.();
      return { messageId: params.messageId, fate: "planned" as const };
    },
  );

  api.route(
    {
      method: "POST",
      url: "/api/v1/approvals/{messageId}/reject",
      summary: "Reject a message awaiting approval: it is never sent, and the reason is kept on it",
      tag: "approvals",
      auth: "admin",
      params: messageParams,
      body: z.object({ reason: z.string().trim().min(1).max(500).optional() }).optional(),
      response: z.object({ messageId: z.string(), fate: z.literal("rejected"), reason: z.string() }),
    },
    async ({ params, body, principal }) => {
      const reason = body?.reason ?? "rejected";
      await verdictOn(db, clock, principal, params.messageId, { action: "reject", reason });
      return { messageId: params.messageId, fate: "rejected" as const, reason };
    },
  );
}

async function verdictOn(
  db: Db,
  clock: Clock,
  principal: Principal | undefined,
  messageId: string,
  verdict: Verdict,
): Promise<void> {
  const r = await decideApprovals(
    db.pool,
    ws(principal).id,
    [messageId],
    verdict,
    actorOf(principal),
    clock.now(),
  );
  const refusal = r.refused[0];
  if (!refusal) return;
  if (refusal.problem === "not_found")
    throw new HttpError(404, "not_found", `no message ${messageId} in this workspace`, "messageId");
  throw new HttpError(
    409,
    "not_awaiting_approval",
    `message ${messageId} is ${refusal.fate}: only a message awaiting approval can be approved or rejected`,
    "messageId",
  );
}

const triggerBody = z
  .object({
    userId: z.string().min(1).max(255).optional(),
    customerId: z
      .string()
      .regex(/^\d{1,18}$/, "a customer id is a number")
      .optional(),
    email: z.string().min(3).max(254).optional(),
    properties: z.record(z.string(), z.unknown()).default({}),
  })
  .refine((b) => [b.userId, b.customerId, b.email].filter((v) => v !== undefined).length === 1, {
    message: "give exactly one of userId, customerId or email",
    path: ["userId"],
  });

/** HTTP status and message for each refusal of the API trigger. */
const REFUSALS: Record<Exclude<TriggerOutcome, { ok: true }>["reason"], [number, string]> = {
  no_strategy: [404, "no strategy is applied in this workspace"],
  unknown_scenario: [404, "the strategy in force has no such scenario"],
  not_api_trigger: [400, "this scenario is not started through the API: its trigger is not `api: true`"],
  unknown_customer: [404, "no such customer in this workspace"],
  ambiguous_email: [409, "several customers have this email; give userId or customerId"],
  already_in: [409, "the customer is inside this scenario now"],
  once: [409, "the customer was in this scenario already and it allows one entry"],
  reentry_interval: [409, "the customer entered this scenario too recently for its re-entry interval"],
  audience: [422, "the customer is not in the scenario's audience"],
  not_sampled: [422, "the customer is outside the pilot's sample"],
};

export function registerScenarioTrigger(
  api: ApiRegistry,
  db: Db,
  clock: Clock,
  hooks: EngineHooks = {},
): void {
  const cache = new StrategyCache();
  const trigger = new TransactionalTrigger(db, cache, new ScenarioRunner(db, cache));
  api.route(
    {
      method: "POST",
      url: "/api/v1/scenarios/{name}/trigger",
      summary: "Start a scenario whose trigger is `api` for one customer (a receipt, a password reset)",
      tag: "scenarios",
      auth: "admin",
      params: z.object({ name: z.string().min(1).max(64) }),
      body: triggerBody,
      response: z.object({ entryId: z.string(), customerId: z.string(), scenario: z.string() }),
      responseStatus: 202,
    },
    async ({ params, body, principal }) => {
      const target: TriggerTarget =
        body.userId !== undefined
          ? { userId: body.userId }
          : body.customerId !== undefined
            ? { customerId: body.customerId }
            : { email: body.email ?? "" };
      const r = await trigger.trigger(
        { workspaceId: ws(principal).id, scenario: params.name, target, properties: body.properties },
        clock.now(),
      );
      if (!r.ok) {
        const [status, message] = REFUSALS[r.reason];
        const path = r.reason === "unknown_scenario" || r.reason === "not_api_trigger" ? "name" : "body";
        throw new HttpError(status, r.reason, message, path);
      }
      hooks.onWork?.();
      return { entryId: r.entryId, customerId: r.customerId, scenario: params.name };
    },
  );
}
