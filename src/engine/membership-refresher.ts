// Keeps segment and stage memberships current, customer by customer: claims customers that are due (new data
// arrived, or the next moment time alone can change an answer has come), evaluates the conditions that the change
// concerns in memory, writes the differences with their events, and schedules the next time-driven check.
import type { Clock } from "../core/clock.ts";
import { evaluate, evaluateStage, nextChange, type Subject } from "../core/condition/index.ts";
import type { Queryable } from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import {
  claimDue,
  type DueCustomer,
  type MembershipChange,
  rescheduleDue,
  writeRefresh,
} from "../store/memberships.ts";
import { ensureEventPartitions } from "../store/partitions.ts";
import { loadSubjects } from "../store/subjects.ts";
import { isAffected, type MembershipModel, type MembershipUnit } from "./membership-model.ts";

/** The strategy in force for a workspace, as the refresher needs it; null when none was applied. */
export type ModelSource = (client: Queryable, workspaceId: number) => Promise<MembershipModel | null>;

/** Taken in shared mode by each refresh round, in exclusive mode by a full recompute of the workspace. */
export const MEMBERSHIP_LOCK = 7_274_021;

export interface RefresherOptions {
  batchSize?: number;
}

export class MembershipRefresher {
  readonly #batchSize: number;

  constructor(
    private readonly db: Db,
    private readonly models: ModelSource,
    private readonly clock: Clock,
    opts: RefresherOptions = {},
  ) {
    this.#batchSize = opts.batchSize ?? 500;
  }

  /** Processes every customer due at `now`; returns how many were evaluated. */
  async runOnce(now: Date = this.clock.now()): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.batch(now);
      total += n;
      if (n < this.#batchSize) return total;
    }
  }

  /** One round: up to a batch of due customers; returns how many. */
  async batch(now: Date = this.clock.now()): Promise<number> {
    await ensureEventPartitions(this.db, [now]);
    return withTransaction(this.db, (client) => this.#round(client, now));
  }

  async #round(client: Queryable, now: Date): Promise<number> {
    const due = await claimDue(client, now, this.#batchSize);
    const byWorkspace = new Map<number, DueCustomer[]>();
    for (const d of due) {
      const list = byWorkspace.get(d.workspaceId);
      if (list) list.push(d);
      else byWorkspace.set(d.workspaceId, [d]);
    }
    for (const [ws, list] of byWorkspace) {
      await client.query("SELECT pg_advisory_xact_lock_shared($1, $2)", [MEMBERSHIP_LOCK, ws]);
      const model = await this.models(client, ws);
      if (!model) {
        await rescheduleDue(client, ws, new Map(list.map((d) => [d.customerId, null])));
        continue;
      }
      await refreshCustomers(client, ws, model, list, now);
    }
    return due.length;
  }
}

/** Evaluates the due customers of one workspace and writes what changed. */
export async function refreshCustomers(
  client: Queryable,
  workspaceId: number,
  model: MembershipModel,
  due: readonly DueCustomer[],
  now: Date,
): Promise<MembershipChange[]> {
  const ids = due.map((d) => d.customerId);
  const units = [...model.segments, ...(model.stage ? [model.stage] : [])];
  const affected = new Map(due.map((d) => [d.customerId, units.filter((u) => isAffected(u, d.changes))]));
  const needEvents = units.filter((u) => u.deps.timeDependent || due.some((d) => isAffected(u, d.changes)));
  const subjects = await loadSubjects(
    client,
    workspaceId,
    ids,
    needEvents.map((u) => u.deps),
    now,
  );
  const changes: MembershipChange[] = [];
  const next = new Map<string, Date | null>();
  for (const id of ids) {
    const found = subjects.get(id);
    if (!found) {
      next.set(id, null); // merged away or erased meanwhile
      continue;
    }
    const { subject, open: current } = found;
    for (const unit of affected.get(id) ?? []) {
      if (unit.segment === null) {
        const stage = evaluateStage(subject, now, model.env);
        if (stage !== current.stage)
          changes.push({ customerId: id, kind: "stage", name: stage, entered: true, from: current.stage });
      } else {
        const [ast] = unit.conditions;
        if (!ast) continue;
        const member = evaluate(ast, subject, now, model.env);
        if (member !== current.segments.has(unit.segment))
          changes.push({ customerId: id, kind: "segment", name: unit.segment, entered: member });
      }
    }
    next.set(id, earliestChange(units, subject, now, model));
  }
  await writeRefresh(client, workspaceId, changes, next, now);
  return changes;
}

function earliestChange(
  units: readonly MembershipUnit[],
  subject: Subject,
  now: Date,
  model: MembershipModel,
): Date | null {
  let best: number | null = null;
  for (const u of units) {
    if (!u.deps.timeDependent) continue;
    for (const ast of u.conditions) {
      const t = nextChange(ast, subject, now, model.env)?.getTime();
      if (t !== undefined && (best === null || t < best)) best = t;
    }
  }
  return best === null ? null : new Date(best);
}
