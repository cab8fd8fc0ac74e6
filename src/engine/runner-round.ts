// One round of the scenario runner, set-wise: what its steps read (customers' rows and events, goal events,
// customers' latest entries) is read once for every customer of the round, and what they write (planned messages,
// entries saved and inserted) is written at the end in one statement each. The round is one transaction, under
// the customers' locks, so a crash repeats it and never leaves half of it.
import type { CustomerFacts, Expr, Subject, SubjectEvent } from "../core/condition/index.ts";
import type { Queryable } from "../store/customers.ts";
import { globalControlPeriods, type StoredSaltPeriod } from "../store/global-control.ts";
import { type PlannedMessage, planMessages } from "../store/messages.ts";
import {
  type Entry,
  insertEntries,
  latestEntries,
  type NewEntry,
  saveEntries,
} from "../store/scenario-entries.ts";
import { type EventNeeds, type GoalEvent, loadEvents, loadFacts, loadGoalEvents } from "../store/subjects.ts";
import type { Scenario, Step } from "../strategy/types.ts";
import { type EntryArm, entryArms } from "./entry-arms.ts";
import { effectiveDeps } from "./membership-model.ts";
import type { RunningStrategy, StrategyCache } from "./strategy-cache.ts";

/** What is read of one customer: the conditions (indexes into the workspace's `needs`), since the entry. */
interface Reader {
  conditions: Set<number>;
  since: number;
}

interface Workspace {
  customers: Map<string, Reader>;
  /** what each condition read in the round needs of events, by its index in `needs` */
  conditions: Map<Expr, number>;
  needs: EventNeeds[];
  goals: Set<string>;
  /** the earliest declared entry (goals are read since) */
  since: number;
  subjects?: Promise<Map<string, { customer: CustomerFacts; events: SubjectEvent[] }>>;
  goalEvents?: Promise<Map<string, GoalEvent[]>>;
  latest?: Promise<Map<string, Map<string, Entry>>>;
  stale: Set<string>;
}

export class RunnerRound {
  readonly #workspaces = new Map<number, Workspace>();
  readonly #arms = new Map<string, Promise<(customerId: string) => EntryArm>>();
  readonly #salts = new Map<number, Promise<StoredSaltPeriod[]>>();
  readonly #messages: (PlannedMessage & { workspaceId: number })[] = [];
  readonly #saved = new Map<string, { entry: Entry; reason: string | null }>();
  readonly #inserted: (NewEntry & { workspaceId: number })[] = [];

  constructor(
    readonly client: Queryable,
    readonly cache: StrategyCache,
    readonly now: Date,
  ) {}

  /**
   * Declares a customer of the round and what may be evaluated for them: the conditions (the events they read
   * are read at once for all the customers who read the same conditions) and the goals checked since `since`,
   * the entry whose conditions these are (their `since_entry` counts read no further back).
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
        customers: new Map(),
        conditions: new Map(),
        needs: [],
        goals: new Set(),
        since: Number.POSITIVE_INFINITY,
        stale: new Set(),
      };
      this.#workspaces.set(ws, w);
    }
    let reader = w.customers.get(customerId);
    if (!reader) {
      reader = { conditions: new Set(), since: Number.POSITIVE_INFINITY };
      w.customers.set(customerId, reader);
    }
    if (rs) {
      for (const c of conditions) {
        let i = w.conditions.get(c);
        if (i === undefined) {
          i = w.needs.push(effectiveDeps(c, rs.membership)) - 1;
          w.conditions.set(c, i);
        }
        reader.conditions.add(i);
      }
    }
    if (goal !== undefined) w.goals.add(goal);
    if (since) {
      reader.since = Math.min(reader.since, since.getTime());
      w.since = Math.min(w.since, since.getTime());
    }
  }

  #ws(ws: number): Workspace {
    const w = this.#workspaces.get(ws);
    if (!w) throw new Error(`workspace ${ws} was not declared to the round`);
    return w;
  }

  /** What conditions read of the customer (null when the customer no longer exists). */
  async subject(ws: number, customerId: string, entryAt: Date | null): Promise<Subject | null> {
    const w = this.#ws(ws);
    w.subjects ??= this.#loadSubjects(ws, w);
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

  /**
   * The customers' rows, and their events: one read for each set of conditions read (an audience that reads a
   * month of page views reads them only for the customers it is checked for).
   */
  async #loadSubjects(ws: number, w: Workspace) {
    const facts = await loadFacts(this.client, ws, [...w.customers.keys()]);
    const groups = new Map<string, { ids: string[]; needs: EventNeeds[]; since: number }>();
    for (const [id, reader] of w.customers) {
      const read = [...reader.conditions].sort((a, b) => a - b);
      const key = read.join(",");
      let g = groups.get(key);
      if (!g) {
        g = { ids: [], needs: read.map((i) => w.needs[i] as EventNeeds), since: Number.POSITIVE_INFINITY };
        groups.set(key, g);
      }
      g.ids.push(id);
      g.since = Math.min(g.since, reader.since);
    }
    const events = new Map<string, SubjectEvent[]>();
    for (const g of groups.values()) {
      if (g.needs.length === 0) continue;
      const entries = Number.isFinite(g.since) ? new Date(g.since) : undefined;
      for (const [id, list] of await loadEvents(this.client, ws, g.ids, g.needs, this.now, entries))
        events.set(id, list);
    }
    const out = new Map<string, { customer: CustomerFacts; events: SubjectEvent[] }>();
    for (const [id, customer] of facts) out.set(id, { customer, events: events.get(id) ?? [] });
    return out;
  }

  /** The customer's events of the declared goals since the earliest declared moment. */
  async goalEvents(ws: number, customerId: string): Promise<GoalEvent[]> {
    const w = this.#ws(ws);
    w.goalEvents ??=
      w.goals.size === 0 || !Number.isFinite(w.since)
        ? Promise.resolve(new Map())
        : loadGoalEvents(this.client, ws, [...w.customers.keys()], [...w.goals], new Date(w.since), this.now);
    return (await w.goalEvents).get(customerId) ?? [];
  }

  /** The customer's entries, one per scenario: the active one, else the latest (with this round's inserts). */
  async latest(ws: number, customerId: string): Promise<Map<string, Entry>> {
    const w = this.#ws(ws);
    w.latest ??= latestEntries(this.client, ws, [...w.customers.keys()]);
    const all = await w.latest;
    const mine = all.get(customerId) ?? new Map<string, Entry>();
    all.set(customerId, mine);
    return mine;
  }

  /**
   * The experiment arm and global control membership of a new entrant (loaded once per scenario; the global
   * control periods once per workspace).
   */
  async arm(ws: number, rs: RunningStrategy, sc: Scenario, customerId: string): Promise<EntryArm> {
    const key = `${ws}:${rs.version}:${sc.name}`;
    let arms = this.#arms.get(key);
    if (!arms) {
      const salts = this.#salts.get(ws) ?? globalControlPeriods(this.client, ws);
      this.#salts.set(ws, salts);
      arms = (async () =>
        entryArms(this.client, ws, rs, sc, await this.cache.salt(this.client, ws), await salts, this.now))();
      this.#arms.set(key, arms);
    }
    return (await arms)(customerId);
  }

  plan(ws: number, m: PlannedMessage): void {
    this.#messages.push({ ...m, workspaceId: ws });
  }

  save(entry: Entry, reason: string | null = null): void {
    const key = `${entry.workspaceId}:${entry.entryId}`;
    this.#saved.set(key, { entry, reason: reason ?? this.#saved.get(key)?.reason ?? null });
  }

  /** Enters a customer: the entry is written at the end of the round; later checks in the round see it. */
  async insert(ws: number, e: NewEntry): Promise<void> {
    this.#inserted.push({ ...e, workspaceId: ws });
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
    await insertEntries(this.client, this.#inserted, this.now);
    await planMessages(this.client, this.#messages, this.now);
    const saved = [...this.#saved.values()].filter((s) => s.entry.entryId !== "");
    await saveEntries(this.client, saved, this.now);
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
