// The moment of sending: planned messages that are due are judged by the communication rules (SPEC §5), all of a
// customer's at once and in priority order, under the customer's lock, so the caps hold with any number of
// workers. Each message gets its fate (queued to send, suppressed, deferred) and the arbiter's trace, and the
// decision commits together with the queue entry (a transactional outbox).
import { withOneMore } from "../core/rules/capacity.ts";
import {
  type ChannelEngagement,
  type ChannelUsage,
  chooseTimeZone,
  decideRound,
  limitWindow,
  type MessageRequest,
  type StrategyInput,
  undeliverableChannels,
} from "../core/rules/index.ts";
import type { Queryable } from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import { lockChannelLimits } from "../store/decision-locks.ts";
import { globalControlPeriods } from "../store/global-control.ts";
import {
  channelSendsSince,
  claimDueDecisions,
  type DecidedFate,
  type DueMessage,
  engagementOf,
  sentHistory,
  writeFates,
} from "../store/messages.ts";
import { type ContactFacts, loadContactFacts } from "../store/subjects.ts";
import type { Step } from "../strategy/types.ts";
import { templateBodyFor } from "../strategy/types.ts";
import { builtInSurvey } from "./render/nps-survey.ts";
import type { RunningStrategy, StrategyCache } from "./strategy-cache.ts";

const ENGAGEMENT_MS = 183 * 86_400_000;

/**
 * One decide round in each of `lanes` transactions at once, as that many workers would run them: the claim skips
 * what another lane holds and the customers' locks keep the rules exact. Returns how many were decided.
 */
export async function decideInLanes(
  db: Db,
  cache: StrategyCache,
  now: Date,
  limit: number,
  lanes: number,
): Promise<number> {
  const rounds = Array.from({ length: lanes }, () =>
    withTransaction(db, (c) => decideDueMessages(c, cache, now, limit)),
  );
  return (await Promise.all(rounds)).reduce((a, b) => a + b, 0);
}

/** Decides up to `limit` due messages; returns how many were decided. */
export async function decideDueMessages(
  client: Queryable,
  cache: StrategyCache,
  now: Date,
  limit: number,
): Promise<number> {
  const rows = await claimDueDecisions(client, now, limit);
  if (rows.length === 0) return 0;
  const byWorkspace = new Map<number, Map<string, DueMessage[]>>();
  for (const r of rows) {
    const customers = byWorkspace.get(r.workspace_id) ?? new Map<string, DueMessage[]>();
    byWorkspace.set(r.workspace_id, customers);
    const list = customers.get(r.customer_id);
    if (list) list.push(r);
    else customers.set(r.customer_id, [r]);
  }
  // The claim holds these customers' decision locks. Each workspace is judged against the strategy in force for
  // the rules and channels, read once for the round.
  const inForce = new Map<number, RunningStrategy | null>();
  for (const ws of byWorkspace.keys()) inForce.set(ws, await cache.current(client, ws));
  await lockChannelLimits(
    client,
    [...inForce].flatMap(([ws, rs]) =>
      rs && Object.values(rs.strategy.channels).some((c) => c.capacity || c.rate) ? [ws] : [],
    ),
  );
  const fates: DecidedFate[] = [];
  for (const [ws, customers] of byWorkspace)
    await decideWorkspace(client, cache, ws, inForce.get(ws) ?? null, customers, now, fates);
  await writeFates(client, fates, now);
  return rows.length;
}

/**
 * Judges every due message of one workspace's customers: what the rules read (the customers' rows, their sent
 * history, engagement, the channels' use) is read once for all of them, and the channels' use carries from one
 * customer to the next, so a capacity holds across the round.
 */
async function decideWorkspace(
  client: Queryable,
  cache: StrategyCache,
  ws: number,
  current: RunningStrategy | null,
  customers: Map<string, DueMessage[]>,
  now: Date,
  out: DecidedFate[],
): Promise<void> {
  const fate = (m: DueMessage, f: string, reason: string | null, rest: Partial<DecidedFate> = {}) =>
    out.push({
      id: m.message_id,
      ws,
      fate: f,
      reason,
      channel: null,
      due: null,
      trace: null,
      cost: 0,
      ...rest,
    });
  const facts = await loadContactFacts(client, ws, [...customers.keys()]);
  if (!current) {
    for (const [id, due] of customers)
      for (const m of due) fate(m, "suppressed", facts.has(id) ? "no_strategy" : "erased");
    return;
  }
  // each message as the rules see it, by the strategy version its journey entered on
  const rounds: {
    customer: ContactFacts;
    requests: MessageRequest[];
    byId: Map<string, DueMessage>;
  }[] = [];
  let best = false;
  for (const [customerId, due] of customers) {
    const customer = facts.get(customerId);
    if (!customer) {
      for (const m of due) fate(m, "suppressed", "erased");
      continue;
    }
    const requests: MessageRequest[] = [];
    const byId = new Map<string, DueMessage>();
    for (const m of due) {
      const rs = (await cache.version(client, ws, m.version)) ?? current;
      const sc = rs.strategy.scenarios[m.scenario];
      const step = rs.plans.get(m.scenario)?.get(m.step_id)?.step;
      if (!sc || !step) {
        fate(m, "failed", "the scenario's step no longer exists");
        continue;
      }
      const via = viaOf(step);
      best ||= via.kind === "best";
      byId.set(m.message_id, m);
      requests.push({
        id: m.message_id,
        scenario: m.scenario,
        kind: m.kind,
        priority: m.priority,
        via,
        onQuietHours: sc.onQuietHours,
        onFrequencyCap: sc.onFrequencyCap,
        templateChannels: templateChannels(rs, m.template, step.kind === "survey"),
        scenarioControl: m.variant === "control",
        ...(m.global_control === null ? {} : { globalControl: m.global_control }),
        firstDecidedAt: m.planned_at,
      });
    }
    if (requests.length > 0) rounds.push({ customer, requests, byId });
  }
  if (rounds.length === 0) return;
  const ids = rounds.map((r) => r.customer.customer_id);
  const strategy = strategyInput(current);
  const longest = Math.max(strategy.rules.minGapMs, ...strategy.rules.frequency.map((f) => f.perMs), 0);
  const history = await sentHistory(client, ws, ids, new Date(now.getTime() - longest));
  // engagement only decides `via: best`
  const engagement = best
    ? await engagementOf(client, ws, ids, new Date(now.getTime() - ENGAGEMENT_MS))
    : new Map<string, Record<string, ChannelEngagement>>();
  const periods = await globalControlPeriods(client, ws);
  const usage = await channelUsage(client, ws, strategy, now);
  const zone = chooseTimeZone(null, strategy.timezone).zone;
  const channels = Object.values(strategy.channels);
  const globalControl = {
    periods: periods.map((p) => ({
      salt: p.salt,
      from: p.from,
      fraction: current.strategy.rules.controlGroup,
    })),
  };
  for (const { customer, requests, byId } of rounds) {
    const results = decideRound({
      now,
      customer: {
        facts: customer,
        erased: false,
        undeliverable: undeliverableChannels(customer, customer.undeliverable, channels),
        // A journey holds its messages back by the membership recorded when it began; only journeys without one
        // (entered before it was recorded) need the salt periods in force now.
        globalControl: requests.every((r) => r.globalControl !== undefined) ? false : globalControl,
      },
      strategy,
      history: history.get(customer.customer_id) ?? [],
      engagement: engagement.get(customer.customer_id) ?? {},
      usage,
      requests,
    });
    for (const { request, decision } of results) {
      const m = byId.get(request.id);
      if (!m) continue;
      const trace = JSON.stringify(decision.trace);
      if (decision.fate === "send") {
        const channel = strategy.channels[decision.channel];
        if (channel) usage[channel.name] = withOneMore(usage[channel.name], channel, now, zone);
        fate(m, "queued", decision.reasons.join(","), {
          channel: decision.channel,
          due: now,
          trace,
          cost: channel?.cost ?? 0,
        });
      } else if (decision.fate === "suppressed") {
        fate(m, "suppressed", decision.reason, { channel: decision.channel, trace });
      } else {
        fate(m, "deferred", decision.reason, { channel: decision.channel, trace, due: decision.until });
      }
    }
  }
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

/** The workspace's use of each limited channel in the current window of its capacity and rate limits. */
async function channelUsage(
  client: Queryable,
  ws: number,
  strategy: StrategyInput,
  now: Date,
): Promise<Record<string, ChannelUsage>> {
  const zone = chooseTimeZone(null, strategy.timezone).zone;
  const out: Record<string, ChannelUsage> = {};
  for (const c of Object.values(strategy.channels)) {
    const usage: ChannelUsage = {};
    for (const [key, limit] of [
      ["capacity", c.capacity],
      ["rate", c.rate],
    ] as const) {
      if (!limit) continue;
      const window = limitWindow(limit, now, zone);
      usage[key] = { used: await channelSendsSince(client, ws, c.name, window.start), windowEnd: window.end };
    }
    if (usage.capacity || usage.rate) out[c.name] = usage;
  }
  return out;
}
