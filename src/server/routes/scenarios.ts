// Admin API for what the engine did: a customer's messages with their fate and reason, the scenarios of the
// strategy in force, and per scenario its entries by state, its messages by fate and its webhook calls by state.
import { z } from "zod";
import { parseStored } from "../../engine/strategy-runtime.ts";
import type { Db } from "../../store/db.ts";
import { customerMessages } from "../../store/messages.ts";
import { currentCustomerId } from "../../store/profiles.ts";
import { entryCounts } from "../../store/scenario-entries.ts";
import { currentStrategyVersion } from "../../store/strategies.ts";
import { webhookCallCounts } from "../../store/webhook-calls.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const ws = (p: Principal | undefined) => (p as Principal).workspace;

const messageSchema = z.object({
  messageId: z.string(),
  scenario: z.string(),
  stepId: z.string(),
  kind: z.string(),
  channel: z.string().nullable(),
  template: z.string(),
  variant: z.string().nullable(),
  fate: z.string(),
  reason: z.string().nullable(),
  plannedAt: z.string(),
  dueAt: z.string().nullable(),
  sentAt: z.string().nullable(),
  attempts: z.number(),
  lastError: z.string().nullable(),
  cost: z.number(),
});

const statsSchema = z.object({
  scenario: z.string(),
  entered: z.number(),
  active: z.number(),
  completed: z.number(),
  exited: z.number(),
  goalReached: z.number(),
  failed: z.number(),
  messages: z.record(z.string(), z.number()),
  webhooks: z
    .record(z.string(), z.number())
    .meta({ description: "calls of the scenario's webhook steps by state: planned, sending, sent, failed" }),
});

export function registerScenarios(api: ApiRegistry, db: Db): void {
  api.route(
    {
      method: "GET",
      url: "/api/v1/customers/{id}/messages",
      summary: "Every message planned for a customer, newest first, with its fate and the reason for it",
      tag: "customers",
      auth: "admin",
      params: z.object({ id: z.string().regex(/^\d{1,18}$/, "a customer id is a number") }),
      response: z.object({ messages: z.array(messageSchema) }),
    },
    async ({ params, principal }) => {
      const cid = await currentCustomerId(db, ws(principal).id, params.id);
      if (!cid) throw new HttpError(404, "not_found", `no customer ${params.id} in this workspace`, "id");
      const list = await customerMessages(db.pool, ws(principal).id, cid);
      return {
        messages: list.map((m) => ({
          ...m,
          plannedAt: m.plannedAt.toISOString(),
          dueAt: m.dueAt?.toISOString() ?? null,
          sentAt: m.sentAt?.toISOString() ?? null,
        })),
      };
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/scenarios",
      summary: "The scenarios of the strategy in force with their entries and messages",
      tag: "scenarios",
      auth: "admin",
      response: z.object({
        scenarios: z.array(
          statsSchema.extend({ goal: z.string(), kind: z.string(), mode: z.string(), priority: z.number() }),
        ),
      }),
    },
    async ({ principal }) => {
      const v = await currentStrategyVersion(db.pool, ws(principal).id);
      if (!v) return { scenarios: [] };
      const strategy = parseStored(v);
      const stats = await scenarioStats(db, ws(principal).id);
      return {
        scenarios: Object.values(strategy.scenarios).map((s) => ({
          ...(stats.get(s.name) ?? emptyStats(s.name)),
          goal: s.goal,
          kind: s.kind,
          mode: s.mode,
          priority: s.priority,
        })),
      };
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/scenarios/{name}/stats",
      summary:
        "One scenario: entered, active, exited, goal reached, its messages by fate and webhook calls by state",
      tag: "scenarios",
      auth: "admin",
      params: z.object({ name: z.string().min(1).max(64) }),
      response: statsSchema,
    },
    async ({ params, principal }) => {
      const stats = (await scenarioStats(db, ws(principal).id)).get(params.name);
      if (!stats) throw new HttpError(404, "not_found", `no scenario ${params.name} has run here`, "name");
      return stats;
    },
  );
}

function emptyStats(scenario: string): z.infer<typeof statsSchema> {
  return {
    scenario,
    entered: 0,
    active: 0,
    completed: 0,
    exited: 0,
    goalReached: 0,
    failed: 0,
    messages: {},
    webhooks: {},
  };
}

async function scenarioStats(db: Db, workspaceId: number): Promise<Map<string, z.infer<typeof statsSchema>>> {
  const out = new Map<string, z.infer<typeof statsSchema>>();
  const get = (s: string) => {
    let v = out.get(s);
    if (!v) {
      v = emptyStats(s);
      out.set(s, v);
    }
    return v;
  };
  for (const c of await entryCounts(db.pool, workspaceId)) {
    const s = get(c.scenario);
    s.entered += c.n;
    if (c.state === "goal_reached") s.goalReached += c.n;
    else s[c.state] += c.n;
  }
  const { rows } = await db.pool.query<{ scenario: string; fate: string; n: string }>(
    "SELECT scenario, fate, count(*) AS n FROM messages WHERE workspace_id = $1 GROUP BY 1, 2",
    [workspaceId],
  );
  for (const r of rows) get(r.scenario).messages[r.fate] = Number(r.n);
  for (const c of await webhookCallCounts(db.pool, workspaceId)) get(c.scenario).webhooks[c.state] = c.n;
  return out;
}
