// The moment of sending: planned messages that are due are judged by the communication rules (SPEC §5), all of a
// customer's at once and in priority order, under the customer's lock, so the caps hold with any number of
// workers. Each message gets its fate (queued to send, suppressed, deferred) and the arbiter's trace, and the
// decision commits together with the queue entry (a transactional outbox).
import {
  type ChannelEngagement,
  type ChannelUsage,
  decideRound,
  type MessageRequest,
  type SentMessage,
  type StrategyInput,
} from "../core/rules/index.ts";
import type { Queryable } from "../store/customers.ts";
import { globalControlPeriods } from "../store/global-control.ts";
import { loadFacts } from "../store/subjects.ts";
import type { Step } from "../strategy/types.ts";
import { templateBodyFor } from "../strategy/types.ts";
import { builtInSurvey } from "./render/nps-survey.ts";
import { lockCustomer } from "./scenario-runner.ts";
import type { RunningStrategy, StrategyCache } from "./strategy-cache.ts";

const ENGAGEMENT_MS = 183 * 86_400_000;

interface DueMessage {
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

/** Decides up to `limit` due messages; returns how many were decided. */
export async function decideDueMessages(
  client: Queryable,
  cache: StrategyCache,
  now: Date,
  limit: number,
): Promise<number> {
  const { rows } = await client.query<DueMessage>(
    `SELECT m.workspace_id, m.message_id, m.customer_id, m.scenario, m.step_id, m.kind, m.template, m.priority,
            m.planned_at, e.version, e.variant, e.global_control
       FROM messages m JOIN scenario_entries e ON e.workspace_id = m.workspace_id AND e.entry_id = m.entry_id
      WHERE m.fate IN ('planned', 'deferred') AND m.due_at <= $1
      ORDER BY m.due_at LIMIT $2 FOR UPDATE OF m SKIP LOCKED`,
    [now, limit],
  );
  const groups = new Map<string, DueMessage[]>();
  for (const r of rows) {
    const key = `${r.workspace_id}:${r.customer_id}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const key of [...groups.keys()].sort()) {
    const list = groups.get(key) ?? [];
    const first = list[0];
    if (!first) continue;
    await lockCustomer(client, first.workspace_id, first.customer_id);
    await decideForCustomer(client, cache, first.workspace_id, first.customer_id, list, now);
  }
  return rows.length;
}

async function decideForCustomer(
  client: Queryable,
  cache: StrategyCache,
  ws: number,
  customerId: string,
  due: DueMessage[],
  now: Date,
): Promise<void> {
  const facts = (await loadFacts(client, ws, [customerId])).get(customerId);
  // All of a customer's due messages are judged against the strategy in force for the rules and channels.
  const current = await cache.current(client, ws);
  if (!facts || !current) {
    const reason = facts ? "no_strategy" : "erased";
    for (const m of due) await setFate(client, m, "suppressed", reason, null, now, null);
    return;
  }
  const strategy = strategyInput(current);
  const requests: MessageRequest[] = [];
  const byId = new Map<string, DueMessage>();
  for (const m of due) {
    const rs = (await cache.version(client, ws, m.version)) ?? current;
    const sc = rs.strategy.scenarios[m.scenario];
    const step = rs.plans.get(m.scenario)?.get(m.step_id)?.step;
    if (!sc || !step) {
      await setFate(client, m, "failed", "the scenario's step no longer exists", null, now, null);
      continue;
    }
    byId.set(m.message_id, m);
    requests.push({
      id: m.message_id,
      scenario: m.scenario,
      kind: m.kind,
      priority: m.priority,
      via: viaOf(step),
      onQuietHours: sc.onQuietHours,
      onFrequencyCap: sc.onFrequencyCap,
      templateChannels: templateChannels(rs, m.template, step.kind === "survey"),
      scenarioControl: m.variant === "control",
      ...(m.global_control === null ? {} : { globalControl: m.global_control }),
      firstDecidedAt: m.planned_at,
    });
  }
  if (requests.length === 0) return;
  const results = decideRound({
    now,
    customer: {
      facts,
      erased: false,
      // A journey holds its messages back by the membership recorded when it began; only journeys without one
      // (entered before it was recorded) need the salt periods in force now.
      globalControl: requests.every((r) => r.globalControl !== undefined)
        ? false
        : {
            periods: (await globalControlPeriods(client, ws)).map((p) => ({
              salt: p.salt,
              from: p.from,
              fraction: current.strategy.rules.controlGroup,
            })),
          },
    },
    strategy,
    history: await sentHistory(client, ws, customerId, now, strategy),
    engagement: await engagement(client, ws, customerId, now),
    usage: await channelUsage(client, ws, current, now),
    requests,
  });
  for (const { request, decision } of results) {
    const m = byId.get(request.id);
    if (!m) continue;
    const trace = JSON.stringify(decision.trace);
    if (decision.fate === "send") {
      const cost = current.strategy.channels[decision.channel]?.cost ?? 0;
      await setFate(client, m, "queued", decision.reasons.join(","), decision.channel, now, trace, now, cost);
    } else if (decision.fate === "suppressed") {
      await setFate(client, m, "suppressed", decision.reason, decision.channel, now, trace);
    } else {
      await setFate(client, m, "deferred", decision.reason, decision.channel, now, trace, decision.until);
    }
  }
}

async function setFate(
  client: Queryable,
  m: DueMessage,
  fate: string,
  reason: string | null,
  channel: string | null,
  now: Date,
  trace: string | null,
  dueAt: Date | null = null,
  cost = 0,
): Promise<void> {
  await client.query(
    `UPDATE messages SET fate = $3, reason = $4, channel = $5, due_at = $6, decision = $7, cost = $8, updated_at = $9
      WHERE workspace_id = $1 AND message_id = $2`,
    [m.workspace_id, m.message_id, fate, reason, channel, dueAt, trace, cost, now],
  );
}

function viaOf(step: Step): MessageRequest["via"] {
  if (step.kind === "send" || step.kind === "survey") return step.via;
  return { kind: "best" };
}

function templateChannels(rs: RunningStrategy, name: string, survey = false): string[] {
  const template = rs.strategy.templates[name] ?? (survey ? builtInSurvey(name) : undefined);
  if (!template) return [];
  return Object.values(rs.strategy.channels)
    .filter((c) => templateBodyFor(template, c) !== undefined)
    .map((c) => c.name);
}

export function strategyInput(rs: RunningStrategy): StrategyInput {
  const s = rs.strategy;
  return {
    timezone: s.timezone,
    rules: s.rules,
    channels: Object.fromEntries(
      Object.values(s.channels).map((c) => [
        c.name,
        {
          name: c.name,
          kind: c.kind,
          contact: c.contact,
          cost: c.cost,
          capacity: c.capacity ? { count: c.capacity.count, perMs: c.capacity.perMs } : null,
          rate: c.rate ? { count: c.rate.count, perMs: c.rate.perMs } : null,
        },
      ]),
    ),
  };
}

/** Sent messages as far back as the longest frequency window; queued ones count as sent already. */
async function sentHistory(
  client: Queryable,
  ws: number,
  customerId: string,
  now: Date,
  strategy: StrategyInput,
): Promise<SentMessage[]> {
  const longest = Math.max(strategy.rules.minGapMs, ...strategy.rules.frequency.map((f) => f.perMs), 0);
  const { rows } = await client.query<{ at: Date; channel: string; kind: "marketing" | "transactional" }>(
    `SELECT COALESCE(sent_at, updated_at) AS at, channel, kind FROM messages
      WHERE workspace_id = $1 AND customer_id = $2 AND channel IS NOT NULL
        AND fate IN ('queued', 'sending', 'sent', 'delivered', 'opened', 'clicked')
        AND COALESCE(sent_at, updated_at) > $3`,
    [ws, customerId, new Date(now.getTime() - longest)],
  );
  return rows;
}

async function engagement(
  client: Queryable,
  ws: number,
  customerId: string,
  now: Date,
): Promise<Record<string, ChannelEngagement>> {
  const { rows } = await client.query<{ channel: string; messages: string; opens: string; clicks: string }>(
    `SELECT channel, count(*) AS messages, count(*) FILTER (WHERE fate IN ('opened', 'clicked')) AS opens,
            count(*) FILTER (WHERE fate = 'clicked') AS clicks
       FROM messages WHERE workspace_id = $1 AND customer_id = $2 AND sent_at > $3
        AND fate IN ('sent', 'delivered', 'opened', 'clicked') GROUP BY channel`,
    [ws, customerId, new Date(now.getTime() - ENGAGEMENT_MS)],
  );
  return Object.fromEntries(
    rows.map((r) => [
      r.channel,
      { messages: Number(r.messages), opens: Number(r.opens), clicks: Number(r.clicks) },
    ]),
  );
}

/** The workspace's use of each limited channel in the current window of its capacity and rate limits. */
async function channelUsage(
  client: Queryable,
  ws: number,
  rs: RunningStrategy,
  now: Date,
): Promise<Record<string, ChannelUsage>> {
  const out: Record<string, ChannelUsage> = {};
  for (const c of Object.values(rs.strategy.channels)) {
    const usage: ChannelUsage = {};
    for (const [key, limit] of [
      ["capacity", c.capacity],
      ["rate", c.rate],
    ] as const) {
      if (!limit) continue;
      const start = Math.floor(now.getTime() / limit.perMs) * limit.perMs;
      const { rows } = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM messages WHERE workspace_id = $1 AND channel = $2
            AND fate IN ('queued', 'sending', 'sent', 'delivered', 'opened', 'clicked')
            AND COALESCE(sent_at, updated_at) >= $3`,
        [ws, c.name, new Date(start)],
      );
      usage[key] = { used: Number(rows[0]?.n ?? 0), windowEnd: new Date(start + limit.perMs) };
    }
    if (usage.capacity || usage.rate) out[c.name] = usage;
  }
  return out;
}
