// Runs scenarios: reacts to the inbox (entering customers on triggers, waking those waiting for an event or whose
// goal event came) and advances due entries step by step until a wait or the end. A customer's decisions are
// serialised by a per-customer lock; each round is one transaction, so a crash repeats a round, never half of it.
import type { Expr } from "../core/condition/index.ts";
import { evaluate, matchesEvent, type Subject } from "../core/condition/index.ts";
import { bucketOf } from "../core/experiment/index.ts";
import { chooseTimeZone, nextWallTime } from "../core/time-zone.ts";
import type { Queryable } from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import { claimInbox, type InboxRow } from "../store/engine-inbox.ts";
import { markDue } from "../store/memberships.ts";
import { planMessage } from "../store/messages.ts";
import {
  activeEntries,
  claimDueEntries,
  type Entry,
  insertEntry,
  latestEntries,
  saveEntry,
} from "../store/scenario-entries.ts";
import { loadEvents, loadFacts } from "../store/subjects.ts";
import { firstOf } from "../strategy/step-plan.ts";
import type { Scenario, Step, Trigger } from "../strategy/types.ts";
import { entryArms } from "./entry-arms.ts";
import { effectiveDeps } from "./membership-model.ts";
import { runDueSchedules } from "./schedules.ts";
import type { RunningStrategy, StrategyCache } from "./strategy-cache.ts";
import { planWebhookCall } from "./webhook-calls.ts";

const MAX_STEPS_PER_ROUND = 100; // a scenario with no wait ends long before this; a loop cannot spin forever

export interface RunnerOptions {
  batchSize?: number;
}

export class ScenarioRunner {
  readonly #batch: number;

  constructor(
    private readonly db: Db,
    private readonly cache: StrategyCache,
    opts: RunnerOptions = {},
  ) {
    this.#batch = opts.batchSize ?? 200;
  }

  /** Handles the inbox and every entry due at `now`, until nothing is left; returns the work done. */
  async runOnce(now: Date): Promise<{ events: number; entries: number }> {
    let events = 0;
    let entries = 0;
    for (;;) {
      const s = await withTransaction(this.db, (c) => runDueSchedules(c, this.cache, now));
      const e = await withTransaction(this.db, (c) => this.#inboxRound(c, now));
      const d = await withTransaction(this.db, (c) => this.#dueRound(c, now));
      events += e;
      entries += d;
      if (s + e + d === 0) return { events, entries };
    }
  }

  async #inboxRound(client: Queryable, now: Date): Promise<number> {
    const rows = await claimInbox(client, this.#batch);
    for (const group of byCustomer(rows)) {
      const first = group[0];
      if (!first) continue;
      await lockCustomer(client, first.workspaceId, first.customerId);
      for (const row of group) await this.#onEvent(client, row, now);
    }
    return rows.length;
  }

  async #dueRound(client: Queryable, now: Date): Promise<number> {
    const due = await claimDueEntries(client, now, this.#batch);
    for (const group of byCustomer(due)) {
      const first = group[0];
      if (!first) continue;
      await lockCustomer(client, first.workspaceId, first.customerId);
      for (const entry of group) await this.#advance(client, entry, now);
    }
    return due.length;
  }

  async #onEvent(client: Queryable, row: InboxRow, now: Date): Promise<void> {
    const ws = row.workspaceId;
    const event = {
      type: "track",
      name: row.name,
      occurred_at: row.occurredAt,
      message_id: row.messageId,
      properties: row.properties,
    };
    for (const entry of await activeEntries(client, ws, row.customerId)) {
      const rs = await this.cache.version(client, ws, entry.version);
      const sc = rs?.strategy.scenarios[entry.scenario];
      if (!rs || !sc) continue;
      let wake = false;
      if (entry.waiting && !entry.waiting.arrived && entry.waiting.event === row.name) {
        const waitStep = waitStepBefore(rs, sc, entry);
        const where = waitStep?.wait.kind === "event" ? waitStep.wait.where : null;
        if (!where || matchesEvent(where.ast, event, now, rs.env)) {
          entry.waiting = { ...entry.waiting, arrived: true };
          wake = true;
        }
      }
      const goal = rs.strategy.goals[sc.goal];
      if (goal?.event === row.name && row.occurredAt >= entry.enteredAt) wake = true;
      if (wake) {
        entry.dueAt = now;
        await saveEntry(client, entry, now);
      }
    }
    const current = await this.cache.current(client, ws);
    if (!current) return;
    for (const sc of Object.values(current.strategy.scenarios)) {
      if (triggerMatches(sc.trigger, row, (where) => matchesEvent(where, event, now, current.env)))
        await this.enter(client, ws, current, sc, row.customerId, triggerOf(row), now);
    }
  }

  /** Enters a customer into a scenario if its entry rules allow; returns why not otherwise. */
  async enter(
    client: Queryable,
    ws: number,
    rs: RunningStrategy,
    sc: Scenario,
    customerId: string,
    triggerEvent: Record<string, unknown> | null,
    now: Date,
  ): Promise<"entered" | "already_in" | "once" | "reentry_interval" | "not_sampled" | "audience"> {
    const latest = (await latestEntries(client, ws, customerId, [sc.name])).get(sc.name);
    if (latest?.state === "active") return "already_in";
    if (latest && sc.reentryMs === null) return "once";
    if (latest && sc.reentryMs !== null && latest.enteredAt.getTime() + sc.reentryMs > now.getTime())
      return "reentry_interval";
    const salt = await this.cache.salt(client, ws);
    if (sc.mode === "pilot" && bucketOf(salt, customerId, `pilot:${sc.name}`) >= sc.sample * 10_000)
      return "not_sampled";
    if (sc.audience) {
      const subject = await this.#subject(client, ws, rs, [sc.audience.ast], customerId, now, null);
      if (!subject || !evaluate(sc.audience.ast, subject, now, rs.env)) return "audience";
    }
    const { variant, globalControl } = (await entryArms(client, ws, rs, sc, salt, now))(customerId);
    await insertEntry(
      client,
      ws,
      {
        customerId,
        scenario: sc.name,
        version: rs.version,
        stepId: firstOf(sc.steps, null),
        variant,
        globalControl,
        triggerEvent,
      },
      now,
    );
    return "entered";
  }

  async #advance(client: Queryable, entry: Entry, now: Date): Promise<void> {
    const ws = entry.workspaceId;
    const rs = await this.cache.version(client, ws, entry.version);
    const sc = rs?.strategy.scenarios[entry.scenario];
    const plan = rs?.plans.get(entry.scenario);
    if (!rs || !sc || !plan)
      return finish(client, entry, "failed", now, "the scenario's version cannot be read");
    if (entry.waiting) {
      entry.context = { ...entry.context, waited: entry.waiting.arrived ? "event" : "timeout" };
      entry.waiting = null;
    }
    let subject: Subject | null | undefined;
    const load = async () => {
      subject ??= await this.#subject(
        client,
        ws,
        rs,
        scenarioConditions(sc),
        entry.customerId,
        now,
        entry.enteredAt,
      );
      return subject;
    };
    const holds = async (ast: Expr) => {
      const s = await load();
      return s !== null && evaluate(ast, s, now, rs.env);
    };
    for (let i = 0; i < MAX_STEPS_PER_ROUND; i++) {
      if ((await load()) === null)
        return finish(client, entry, "exited", now, "the customer no longer exists");
      if (sc.exitOnGoal && (await goalReached(client, rs, sc, entry, now)))
        return finish(client, entry, "goal_reached", now, "goal reached");
      if (sc.exitIf && (await holds(sc.exitIf.ast)))
        return finish(client, entry, "exited", now, "exit condition");
      const planned = entry.stepId === null ? undefined : plan.get(entry.stepId);
      if (!planned) return finish(client, entry, "completed", now);
      const { step, next } = planned;
      switch (step.kind) {
        case "send":
        case "survey":
          await planMessage(
            client,
            ws,
            {
              customerId: entry.customerId,
              scenario: sc.name,
              entryId: entry.entryId,
              stepId: step.id,
              kind: sc.kind,
              template: templateFor(sc, entry, step),
              variant: entry.variant,
              priority: sc.priority,
              fate: sc.mode === "pilot" ? "awaiting_approval" : "planned",
              survey: step.kind === "survey" ? step.survey : null,
            },
            now,
          );
          entry.stepId = next;
          break;
        case "wait": {
          entry.stepId = next;
          const w = step.wait;
          if (w.kind === "duration") entry.dueAt = new Date(now.getTime() + w.ms);
          else if (w.kind === "until") {
            const tz = chooseTimeZone((await load())?.customer.timezone ?? null, rs.strategy.timezone).zone;
            entry.dueAt = new Date(nextWallTime(now.getTime(), w.minuteOfDay, tz));
          } else {
            entry.dueAt = new Date(now.getTime() + w.timeoutMs);
            entry.waiting = { event: w.event, timeoutAt: entry.dueAt.toISOString() };
          }
          await saveEntry(client, entry, now);
          return;
        }
        case "branch": {
          let target: string | null | undefined;
          for (const b of step.branches) {
            if (await holds(b.if.ast)) {
              target = firstOf(b.steps, next);
              break;
            }
          }
          entry.stepId = target === undefined ? firstOf(step.else, next) : target;
          break;
        }
        case "split": {
          const salt = await this.cache.salt(client, ws);
          const at = bucketOf(salt, entry.customerId, `${sc.name}:${step.id}`) / 10_000;
          let edge = 0;
          entry.stepId = next;
          for (const arm of step.arms) {
            edge += arm.fraction;
            if (at < edge) {
              entry.stepId = firstOf(arm.steps, next);
              break;
            }
          }
          break;
        }
        case "exit_if":
          if (await holds(step.condition.ast))
            return finish(client, entry, "exited", now, `exit_if at step ${step.id}`);
          entry.stepId = next;
          break;
        case "update":
          await updateTraits(client, ws, entry.customerId, step.traits, now);
          subject = undefined;
          entry.stepId = next;
          break;
        case "webhook":
          await planWebhookCall(client, ws, { entry, step, strategy: rs.strategy, now });
          entry.stepId = next;
          break;
        default:
          // task steps are run by the call-centre channel (later); the journey goes on meanwhile
          entry.context = {
            ...entry.context,
            [`step_${step.id}`]: `${step.kind} not run: no ${step.kind} channel yet`,
          };
          entry.stepId = next;
      }
    }
    entry.dueAt = now; // more steps than one round takes: go on in the next round
    await saveEntry(client, entry, now);
  }

  async #subject(
    client: Queryable,
    ws: number,
    rs: RunningStrategy,
    conditions: readonly Expr[],
    customerId: string,
    now: Date,
    entryAt: Date | null,
  ): Promise<Subject | null> {
    const customer = (await loadFacts(client, ws, [customerId])).get(customerId);
    if (!customer) return null;
    const deps = conditions.map((c) => effectiveDeps(c, rs.membership));
    const events = (await loadEvents(client, ws, [customerId], deps, now)).get(customerId) ?? [];
    return { customer, events, entryAt };
  }
}

function byCustomer<T extends { workspaceId: number; customerId: string }>(rows: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const r of rows) {
    const key = `${r.workspaceId}:${r.customerId}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  // Locks are taken in one order by every worker, so two of them never wait on each other.
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
}

/** One worker at a time decides for a customer: the frequency rules stay exact with any number of workers. */
export async function lockCustomer(client: Queryable, ws: number, customerId: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7274030))", [`${ws}:${customerId}`]);
}

function triggerMatches(t: Trigger, row: InboxRow, filter: (where: Expr) => boolean): boolean {
  const p = row.properties;
  switch (t.kind) {
    case "event":
      return row.name === t.event && (t.where === null || filter(t.where.ast));
    case "segment_entered":
      return row.name === "segment_entered" && p.segment === t.segment;
    case "segment_exited":
      return row.name === "segment_exited" && p.segment === t.segment;
    case "stage_entered":
      return row.name === "stage_changed" && p.to === t.stage;
    case "stage_left":
      return row.name === "stage_changed" && p.from === t.stage;
    default:
      return false;
  }
}

/** The conditions a scenario evaluates during a journey: exit conditions and branches. */
function scenarioConditions(sc: Scenario): Expr[] {
  const out: Expr[] = [];
  if (sc.exitIf) out.push(sc.exitIf.ast);
  const walk = (steps: readonly Step[]) => {
    for (const s of steps) {
      if (s.kind === "exit_if") out.push(s.condition.ast);
      else if (s.kind === "branch") {
        for (const b of s.branches) {
          out.push(b.if.ast);
          walk(b.steps);
        }
        walk(s.else);
      } else if (s.kind === "split") for (const a of s.arms) walk(a.steps);
    }
  };
  walk(sc.steps);
  return out;
}

/** In an experiment, the variant's template stands in for any of the variants' templates. */
function templateFor(sc: Scenario, entry: Entry, step: Extract<Step, { kind: "send" | "survey" }>): string {
  const base = step.kind === "send" ? step.template : (step.template ?? "nps");
  const exp = sc.experiment;
  if (!exp || !entry.variant || !exp.variants.some((v) => v.template === base)) return base;
  return exp.variants.find((v) => v.name === entry.variant)?.template ?? base;
}

function waitStepBefore(rs: RunningStrategy, sc: Scenario, entry: Entry) {
  for (const { step, next } of rs.plans.get(sc.name)?.values() ?? []) {
    if (next === entry.stepId && step.kind === "wait" && step.wait.kind === "event") return step;
  }
  return undefined;
}

async function goalReached(
  client: Queryable,
  rs: RunningStrategy,
  sc: Scenario,
  entry: Entry,
  now: Date,
): Promise<boolean> {
  const goal = rs.strategy.goals[sc.goal];
  if (!goal) return false;
  const until = Math.min(now.getTime(), entry.enteredAt.getTime() + goal.windowMs);
  const { rows } = await client.query<{
    occurred_at: Date;
    message_id: string;
    properties: Record<string, unknown>;
  }>(
    `SELECT occurred_at, message_id, properties FROM events
      WHERE workspace_id = $1 AND customer_id = $2 AND type = 'track' AND name = $3
        AND occurred_at >= $4 AND occurred_at <= $5`,
    [entry.workspaceId, entry.customerId, goal.event, entry.enteredAt, new Date(until)],
  );
  if (!goal.where) return rows.length > 0;
  const where = goal.where.ast;
  return rows.some((r) => matchesEvent(where, { type: "track", name: goal.event, ...r }, now, rs.env));
}

async function finish(
  client: Queryable,
  entry: Entry,
  state: Entry["state"],
  now: Date,
  reason?: string,
): Promise<void> {
  entry.state = state;
  entry.dueAt = null;
  entry.waiting = null;
  await saveEntry(client, entry, now, reason);
}

async function updateTraits(
  client: Queryable,
  ws: number,
  customerId: string,
  traits: Record<string, unknown>,
  now: Date,
): Promise<void> {
  await client.query(
    `UPDATE customers SET traits = traits || $3::jsonb, traits_updated_at = $4, updated_at = $4
      WHERE workspace_id = $1 AND customer_id = $2`,
    [ws, customerId, JSON.stringify(traits), now],
  );
  await markDue(client, ws, new Map([[customerId, new Set(["profile"])]]), now);
}

/** What a journey keeps of the event that started it (Liquid's `event`). */
function triggerOf(row: InboxRow): Record<string, unknown> {
  return { name: row.name, occurred_at: row.occurredAt.toISOString(), properties: row.properties };
}
