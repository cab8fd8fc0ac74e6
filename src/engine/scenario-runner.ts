// Runs scenarios: reacts to the inbox (entering customers on triggers, waking those waiting for an event or whose
// goal event came) and advances due entries step by step until a wait or the end. A customer's decisions are
// serialised by a per-customer lock; each round is one transaction, so a crash repeats a round, never half of it.
import type { Expr } from "../core/condition/index.ts";
import { evaluate, matchesEvent } from "../core/condition/index.ts";
import { bucketOf } from "../core/experiment/index.ts";
import { chooseTimeZone, nextWallTime } from "../core/time-zone.ts";
import type { Queryable } from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import { lockDecisions } from "../store/decision-locks.ts";
import { claimInbox, type InboxRow } from "../store/engine-inbox.ts";
import { markDue } from "../store/memberships.ts";
import { claimDueEntries, type Entry } from "../store/scenario-entries.ts";
import { noteGrowth } from "../store/statistics.ts";
import { firstOf } from "../strategy/step-plan.ts";
import type { Scenario, Step, Trigger } from "../strategy/types.ts";
import type { DueWork } from "./due-work.ts";
import { RunnerRound, scenarioConditions } from "./runner-round.ts";
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
    this.#batch = opts.batchSize ?? 1000;
  }

  /** Handles the inbox and every entry due at `now`, until nothing is left; returns the work done. */
  async runOnce(now: Date): Promise<{ events: number; entries: number }> {
    let events = 0;
    let entries = 0;
    for (;;) {
      const b = await this.batch(now);
      events += b.events;
      entries += b.entries;
      if (b.scheduled + b.events + b.entries === 0) return { events, entries };
    }
  }

  /**
   * One pass: the due schedule occurrences, a batch of the inbox, a batch of due entries. With `due` (the engine's
   * probe, engine/due-work.ts), a stage runs only when it has work due or a stage before it did work in this pass.
   */
  async batch(
    now: Date,
    due: Pick<DueWork, "schedules" | "inbox" | "entries"> = { schedules: true, inbox: true, entries: true },
  ): Promise<{ scheduled: number; events: number; entries: number }> {
    const scheduled = due.schedules
      ? await withTransaction(this.db, (c) => runDueSchedules(c, this.cache, now))
      : 0;
    const events =
      due.inbox || scheduled > 0 ? await withTransaction(this.db, (c) => this.#inboxRound(c, now)) : 0;
    const entries =
      due.entries || scheduled + events > 0
        ? await withTransaction(this.db, (c) => this.#dueRound(c, now))
        : 0;
    // each of these wrote entries or messages: the tables the engine's named statements read keep growing
    noteGrowth(this.db, scheduled + events + entries);
    return { scheduled, events, entries };
  }

  async #inboxRound(client: Queryable, now: Date): Promise<number> {
    const rows = await claimInbox(client, this.#batch);
    if (rows.length === 0) return 0;
    await lockDecisions(
      client,
      rows.map((r) => ({ ws: r.workspaceId, id: r.customerId })),
    );
    const round = new RunnerRound(client, this.cache, now);
    const current = new Map<number, RunningStrategy | null>();
    for (const r of rows) {
      if (!current.has(r.workspaceId))
        current.set(r.workspaceId, await this.cache.current(client, r.workspaceId));
      const rs = current.get(r.workspaceId) ?? null;
      // the audiences of the scenarios this event can start
      const audiences = Object.values(rs?.strategy.scenarios ?? {}).flatMap((sc) =>
        sc.audience && triggerEventName(sc.trigger) === r.name ? [sc.audience.ast] : [],
      );
      round.need(r.workspaceId, r.customerId, rs, audiences);
    }
    for (const row of rows) await this.#onEvent(round, row, current.get(row.workspaceId) ?? null);
    await round.flush();
    return rows.length;
  }

  async #dueRound(client: Queryable, now: Date): Promise<number> {
    const due = await claimDueEntries(client, now, this.#batch);
    if (due.length === 0) return 0;
    await lockDecisions(
      client,
      due.map((e) => ({ ws: e.workspaceId, id: e.customerId })),
    );
    const round = new RunnerRound(client, this.cache, now);
    const running: (RunningStrategy | null)[] = [];
    for (const entry of due) {
      const rs = await this.cache.version(client, entry.workspaceId, entry.version);
      running.push(rs);
      const sc = rs?.strategy.scenarios[entry.scenario];
      const goal = sc?.exitOnGoal ? rs?.strategy.goals[sc.goal]?.event : undefined;
      round.need(
        entry.workspaceId,
        entry.customerId,
        rs,
        sc ? scenarioConditions(sc) : [],
        goal,
        entry.enteredAt,
      );
    }
    for (const [i, entry] of due.entries()) await this.#advance(round, entry, running[i] ?? null);
    await round.flush();
    return due.length;
  }

  async #onEvent(round: RunnerRound, row: InboxRow, current: RunningStrategy | null): Promise<void> {
    const { client, now } = round;
    const ws = row.workspaceId;
    const event = {
      type: "track",
      name: row.name,
      occurred_at: row.occurredAt,
      message_id: row.messageId,
      properties: row.properties,
    };
    for (const entry of (await round.latest(ws, row.customerId)).values()) {
      if (entry.state !== "active" || entry.entryId === "") continue;
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
        round.save(entry);
      }
    }
    if (!current) return;
    for (const sc of Object.values(current.strategy.scenarios)) {
      if (triggerMatches(sc.trigger, row, (where) => matchesEvent(where, event, now, current.env)))
        await this.#enter(round, ws, current, sc, row.customerId, triggerOf(row));
    }
  }

  /** Enters a customer into a scenario if its entry rules allow (in its own round); returns why not otherwise. */
  async enter(
    client: Queryable,
    ws: number,
    rs: RunningStrategy,
    sc: Scenario,
    customerId: string,
    triggerEvent: Record<string, unknown> | null,
    now: Date,
  ): Promise<EntryOutcome> {
    const round = new RunnerRound(client, this.cache, now);
    round.need(ws, customerId, rs, sc.audience ? [sc.audience.ast] : []);
    const outcome = await this.#enter(round, ws, rs, sc, customerId, triggerEvent);
    await round.flush();
    return outcome;
  }

  async #enter(
    round: RunnerRound,
    ws: number,
    rs: RunningStrategy,
    sc: Scenario,
    customerId: string,
    triggerEvent: Record<string, unknown> | null,
  ): Promise<EntryOutcome> {
    const { client, now } = round;
    const latest = (await round.latest(ws, customerId)).get(sc.name);
    if (latest?.state === "active") return "already_in";
    if (latest && sc.reentryMs === null) return "once";
    if (latest && sc.reentryMs !== null && latest.enteredAt.getTime() + sc.reentryMs > now.getTime())
      return "reentry_interval";
    const salt = await this.cache.salt(client, ws);
    if (sc.mode === "pilot" && bucketOf(salt, customerId, `pilot:${sc.name}`) >= sc.sample * 10_000)
      return "not_sampled";
    if (sc.audience) {
      const subject = await round.subject(ws, customerId, null);
      if (!subject || !evaluate(sc.audience.ast, subject, now, rs.env)) return "audience";
    }
    const { variant, globalControl } = await round.arm(ws, rs, sc, customerId);
    await round.insert(ws, {
      customerId,
      scenario: sc.name,
      version: rs.version,
      stepId: firstOf(sc.steps, null),
      variant,
      globalControl,
      triggerEvent,
    });
    return "entered";
  }

  async #advance(round: RunnerRound, entry: Entry, rs: RunningStrategy | null): Promise<void> {
    const { client, now } = round;
    const ws = entry.workspaceId;
    const sc = rs?.strategy.scenarios[entry.scenario];
    const plan = rs?.plans.get(entry.scenario);
    if (!rs || !sc || !plan) return finish(round, entry, "failed", "the scenario's version cannot be read");
    if (entry.waiting) {
      entry.context = { ...entry.context, waited: entry.waiting.arrived ? "event" : "timeout" };
      entry.waiting = null;
    }
    const load = () => round.subject(ws, entry.customerId, entry.enteredAt);
    const holds = async (ast: Expr) => {
      const s = await load();
      return s !== null && evaluate(ast, s, now, rs.env);
    };
    for (let i = 0; i < MAX_STEPS_PER_ROUND; i++) {
      if ((await load()) === null) return finish(round, entry, "exited", "the customer no longer exists");
      if (sc.exitOnGoal && (await goalReached(round, rs, sc, entry)))
        return finish(round, entry, "goal_reached", "goal reached");
      if (sc.exitIf && (await holds(sc.exitIf.ast))) return finish(round, entry, "exited", "exit condition");
      const planned = entry.stepId === null ? undefined : plan.get(entry.stepId);
      if (!planned) return finish(round, entry, "completed");
      const { step, next } = planned;
      switch (step.kind) {
        case "send":
        case "survey":
          round.plan(ws, {
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
          });
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
          round.save(entry);
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
            return finish(round, entry, "exited", `exit_if at step ${step.id}`);
          entry.stepId = next;
          break;
        case "update":
          await updateTraits(client, ws, entry.customerId, step.traits, now);
          round.changed(ws, entry.customerId);
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
    round.save(entry);
  }
}

export type EntryOutcome =
  | "entered"
  | "already_in"
  | "once"
  | "reentry_interval"
  | "not_sampled"
  | "audience";

/** The inbox event that can start a scenario with this trigger. */
function triggerEventName(t: Trigger): string | null {
  switch (t.kind) {
    case "event":
      return t.event;
    case "segment_entered":
    case "segment_exited":
      return t.kind;
    case "stage_entered":
    case "stage_left":
      return "stage_changed";
    default:
      return null;
  }
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
  round: RunnerRound,
  rs: RunningStrategy,
  sc: Scenario,
  entry: Entry,
): Promise<boolean> {
  const goal = rs.strategy.goals[sc.goal];
  if (!goal) return false;
  const from = entry.enteredAt.getTime();
  const until = Math.min(round.now.getTime(), from + goal.windowMs);
  const where = goal.where?.ast;
  return (await round.goalEvents(entry.workspaceId, entry.customerId)).some((e) => {
    const at = e.occurred_at.getTime();
    if (e.name !== goal.event || at < from || at > until) return false;
    return !where || matchesEvent(where, { type: "track", ...e }, round.now, rs.env);
  });
}

function finish(round: RunnerRound, entry: Entry, state: Entry["state"], reason?: string): void {
  entry.state = state;
  entry.dueAt = null;
  entry.waiting = null;
  round.save(entry, reason ?? null);
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
