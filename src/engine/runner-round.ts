// One round of the scenario runner, set-wise: what its steps read (customers' rows and events, goal events,
// customers' latest entries) is read once for every customer of the round, and what they write (planned messages,
// entries saved and inserted) is written at the end in one statement each. The round is one transaction, under
// the customers' locks, so a crash repeats it and never leaves half of it.
import type { CustomerFacts, Expr, Subject, SubjectEvent } from "../core/condition/index.ts";
import type { Queryable } from "../store/customers.ts";
import type { PlannedMessage } from "../store/messages.ts";
import {
  ENTRY_COLUMNS,
  type Entry,
  type EntryRow,
  type NewEntry,
  toEntry,
} from "../store/scenario-entries.ts";
import { type EventNeeds, loadEvents, loadFacts } from "../store/subjects.ts";
import type { Scenario, Step } from "../strategy/types.ts";
import { type EntryArm, entryArms } from "./entry-arms.ts";
import { effectiveDeps } from "./membership-model.ts";
import type { RunningStrategy, StrategyCache } from "./strategy-cache.ts";

export interface GoalEvent {
  name: string;
  occurred_at: Date;
  message_id: string;
  properties: Record<string, unknown>;
}

interface Workspace {
  customers: Set<string>;
  needs: EventNeeds[];
  /** the conditions whose needs are in `needs` */
  read: Set<Expr>;
  goals: Set<string>;
  since: number;
  subjects?: Promise<Map<string, { customer: CustomerFacts; events: SubjectEvent[] }>>;
  goalEvents?: Promise<Map<string, GoalEvent[]>>;
  latest?: Promise<Map<string, Map<string, Entry>>>;
  stale: Set<string>;
}

export class RunnerRound {
  readonly #workspaces = new Map<number, Workspace>();
  readonly #arms = new Map<string, Promise<(customerId: string) => EntryArm>>();
  readonly #messages: (PlannedMessage & { ws: number })[] = [];
  readonly #saved = new Map<string, { entry: Entry; reason: string | null }>();
  readonly #inserted: (NewEntry & { ws: number; triggerEvent: Record<string, unknown> | null })[] = [];

  constructor(
    readonly client: Queryable,
    readonly cache: StrategyCache,
    readonly now: Date,
  ) {}

  /**
   * Declares a customer of the round and what may be evaluated for them: the conditions (their events are
   * read for every customer of the workspace at once) and the goals checked since `since`.
   */
  need(
    ws: number,
    customerId: string,
    rs: RunningStrategy | null,
    conditions: readonly Expr[],
    goal?: string,
    since?: Date,
  ): void {
    let w = this.#workspaces.get(ws);
    if (!w) {
      w = {
        customers: new Set(),
        needs: [],
        read: new Set(),
        goals: new Set(),
        since: Number.POSITIVE_INFINITY,
        stale: new Set(),
      };
      this.#workspaces.set(ws, w);
    }
    w.customers.add(customerId);
    for (const c of conditions) {
      if (!rs || w.read.has(c)) continue;
      w.read.add(c);
      w.needs.push(effectiveDeps(c, rs.membership));
    }
    if (goal !== undefined) w.goals.add(goal);
    if (since) w.since = Math.min(w.since, since.getTime());
  }

  #ws(ws: number): Workspace {
    const w = this.#workspaces.get(ws);
    if (!w) throw new Error(`workspace ${ws} was not declared to the round`);
    return w;
  }

  /** What conditions read of the customer (null when the customer no longer exists). */
  async subject(ws: number, customerId: string, entryAt: Date | null): Promise<Subject | null> {
    const w = this.#ws(ws);
    w.subjects ??= this.#loadSubjects(ws, [...w.customers], w.needs);
    const subjects = await w.subjects;
    if (w.stale.delete(customerId)) {
      const fresh = (await loadFacts(this.client, ws, [customerId])).get(customerId);
      const known = subjects.get(customerId);
      if (fresh && known) known.customer = fresh;
      else subjects.delete(customerId);
    }
    const s = subjects.get(customerId);
    return s ? { customer: s.customer, events: s.events, entryAt } : null;
  }

  /** The customer's row changed during the round (an `update` step): read it again when next asked. */
  changed(ws: number, customerId: string): void {
    this.#ws(ws).stale.add(customerId);
  }

  async #loadSubjects(ws: number, ids: string[], needs: EventNeeds[]) {
    const facts = await loadFacts(this.client, ws, ids);
    const events = await loadEvents(this.client, ws, ids, needs, this.now);
    const out = new Map<string, { customer: CustomerFacts; events: SubjectEvent[] }>();
    for (const [id, customer] of facts) out.set(id, { customer, events: events.get(id) ?? [] });
    return out;
  }

  /** The customer's events of the declared goals since the earliest declared moment. */
  async goalEvents(ws: number, customerId: string): Promise<GoalEvent[]> {
    const w = this.#ws(ws);
    w.goalEvents ??= (async () => {
      const out = new Map<string, GoalEvent[]>();
      if (w.goals.size === 0 || !Number.isFinite(w.since)) return out;
      const { rows } = await this.client.query<GoalEvent & { customer_id: string }>({
        name: "tact-goal-events",
        text: `SELECT customer_id, name, occurred_at, message_id, properties FROM events
          WHERE workspace_id = $1 AND type = 'track' AND customer_id = ANY($2::bigint[]) AND name = ANY($3::text[])
            AND occurred_at >= $4 AND occurred_at <= $5`,
        values: [ws, [...w.customers], [...w.goals], new Date(w.since), this.now],
      });
      for (const { customer_id, ...e } of rows) {
        const list = out.get(customer_id);
        if (list) list.push(e);
        else out.set(customer_id, [e]);
      }
      return out;
    })();
    return (await w.goalEvents).get(customerId) ?? [];
  }

  /** The customer's entries, one per scenario: the active one, else the latest (with this round's inserts). */
  async latest(ws: number, customerId: string): Promise<Map<string, Entry>> {
    const w = this.#ws(ws);
    w.latest ??= (async () => {
      const { rows } = await this.client.query<EntryRow>({
        name: "tact-latest-entries",
        text: `SELECT DISTINCT ON (customer_id, scenario) ${ENTRY_COLUMNS} FROM scenario_entries
          WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[])
          ORDER BY customer_id, scenario, (state = 'active') DESC, entered_at DESC`,
        values: [ws, [...w.customers]],
      });
      const out = new Map<string, Map<string, Entry>>();
      for (const r of rows) {
        const e = toEntry(r);
        const m = out.get(e.customerId) ?? new Map<string, Entry>();
        m.set(e.scenario, e);
        out.set(e.customerId, m);
      }
      return out;
    })();
    const all = await w.latest;
    const mine = all.get(customerId) ?? new Map<string, Entry>();
    all.set(customerId, mine);
    return mine;
  }

  /** The experiment arm and global control membership of a new entrant (loaded once per scenario). */
  async arm(ws: number, rs: RunningStrategy, sc: Scenario, customerId: string): Promise<EntryArm> {
    const key = `${ws}:${rs.version}:${sc.name}`;
    let arms = this.#arms.get(key);
    if (!arms) {
      arms = (async () =>
        entryArms(this.client, ws, rs, sc, await this.cache.salt(this.client, ws), this.now))();
      this.#arms.set(key, arms);
    }
    return (await arms)(customerId);
  }

  plan(ws: number, m: PlannedMessage): void {
    this.#messages.push({ ...m, ws });
  }

  save(entry: Entry, reason: string | null = null): void {
    const key = `${entry.workspaceId}:${entry.entryId}`;
    this.#saved.set(key, { entry, reason: reason ?? this.#saved.get(key)?.reason ?? null });
  }

  /** Enters a customer: the entry is written at the end of the round; later checks in the round see it. */
  async insert(ws: number, e: NewEntry): Promise<void> {
    this.#inserted.push({ ...e, ws });
    const latest = await this.latest(ws, e.customerId);
    latest.set(e.scenario, {
      workspaceId: ws,
      entryId: "",
      customerId: e.customerId,
      scenario: e.scenario,
      version: e.version,
      enteredAt: this.now,
      state: e.stepId === null ? "completed" : "active",
      stepId: e.stepId,
      dueAt: e.stepId === null ? null : this.now,
      waiting: null,
      variant: e.variant,
      triggerEvent: e.triggerEvent,
      context: {},
    });
  }

  /** Writes what the round did: entries inserted, messages planned, entries saved. */
  async flush(): Promise<void> {
    const { client, now } = this;
    if (this.#inserted.length > 0) {
      await client.query({
        name: "tact-insert-entries",
        text: `INSERT INTO scenario_entries
           (workspace_id, customer_id, scenario, version, entered_at, state, step_id, due_at, variant, trigger_event,
            updated_at, global_control)
         SELECT d.ws, d.c, d.s, d.v, $1, CASE WHEN d.step IS NULL THEN 'completed' ELSE 'active' END, d.step,
                CASE WHEN d.step IS NULL THEN NULL ELSE $1::timestamptz END, d.variant, d.t, $1, d.g
           FROM json_to_recordset($2::json) AS d(ws integer, c bigint, s text, v integer, step text, variant text,
                                                 t jsonb, g boolean)`,
        values: [
          now,
          JSON.stringify(
            this.#inserted.map((e) => ({
              ws: e.ws,
              c: e.customerId,
              s: e.scenario,
              v: e.version,
              step: e.stepId,
              variant: e.variant,
              t: e.triggerEvent,
              g: e.globalControl ?? null,
            })),
          ),
        ],
      });
    }
    if (this.#messages.length > 0) {
      await client.query({
        name: "tact-plan-messages",
        text: `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, kind, template, variant,
                                     fate, reason, priority, planned_at, due_at, updated_at, survey)
         SELECT d.ws, d.c, d.s, d.e, d.step, d.kind, d.t, d.variant, d.fate, d.reason, d.p, $1,
                CASE WHEN d.fate = 'planned' THEN $1::timestamptz END, $1, d.survey
           FROM json_to_recordset($2::json) AS d(ws integer, c bigint, s text, e bigint, step text, kind text, t text,
                                                 variant text, fate text, reason text, p integer, survey text)
         ON CONFLICT (workspace_id, entry_id, step_id) DO NOTHING`,
        values: [
          now,
          JSON.stringify(
            this.#messages.map((m) => ({
              ws: m.ws,
              c: m.customerId,
              s: m.scenario,
              e: m.entryId,
              step: m.stepId,
              kind: m.kind,
              t: m.template,
              variant: m.variant,
              fate: m.fate,
              reason: m.reason ?? null,
              p: m.priority,
              survey: m.survey ?? null,
            })),
          ),
        ],
      });
    }
    const saved = [...this.#saved.values()].filter((s) => s.entry.entryId !== "");
    if (saved.length > 0) {
      await client.query({
        name: "tact-save-entries",
        text: `UPDATE scenario_entries e SET state = d.state, step_id = d.step, due_at = d.due, waiting = d.waiting,
                  variant = d.variant, context = d.context, exit_reason = COALESCE(d.reason, e.exit_reason),
                  updated_at = $1
           FROM json_to_recordset($2::json) AS d(ws integer, id bigint, state text, step text, due timestamptz,
                                                 waiting jsonb, variant text, context jsonb, reason text)
          WHERE e.workspace_id = d.ws AND e.entry_id = d.id`,
        values: [
          now,
          JSON.stringify(
            saved.map(({ entry: e, reason }) => ({
              ws: e.workspaceId,
              id: e.entryId,
              state: e.state,
              step: e.stepId,
              due: e.dueAt,
              waiting: e.waiting,
              variant: e.variant,
              context: e.context,
              reason,
            })),
          ),
        ],
      });
    }
  }
}

/** The conditions a scenario evaluates during a journey: exit conditions and branches. */
export function scenarioConditions(sc: Scenario): Expr[] {
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
