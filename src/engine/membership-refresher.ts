// Keeps segment and stage memberships current, customer by customer: claims customers that are due (new data
// arrived, or the next moment time alone can change an answer has come), evaluates the conditions that the change
// concerns in memory, writes the differences with their events, and schedules the next time-driven check.
import type { Clock } from "../core/clock.ts";
import { VALUE_FIELDS } from "../core/condition/ast.ts";
import {
  type CustomerFacts,
  type CustomerValueFacts,
  evaluate,
  evaluateStage,
  nextChange,
  type Subject,
  type SubjectEvent,
} from "../core/condition/index.ts";
import type { Queryable } from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import {
  applyChanges,
  claimDue,
  type DueCustomer,
  type MembershipChange,
  openMemberships,
  rescheduleDue,
} from "../store/memberships.ts";
import { ensureEventPartitions } from "../store/partitions.ts";
import {
  type EffectiveDeps,
  isAffected,
  type MembershipModel,
  type MembershipUnit,
} from "./membership-model.ts";

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
    await ensureEventPartitions(this.db, [now]);
    for (;;) {
      const n = await withTransaction(this.db, (client) => this.#round(client, now));
      total += n;
      if (n < this.#batchSize) return total;
    }
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
  const facts = await loadFacts(client, workspaceId, ids);
  const events = await loadEvents(
    client,
    workspaceId,
    ids,
    needEvents.map((u) => u.deps),
    now,
  );
  const open = await openMemberships(client, workspaceId, ids);
  const changes: MembershipChange[] = [];
  const next = new Map<string, Date | null>();
  for (const id of ids) {
    const customer = facts.get(id);
    const current = open.get(id);
    if (!customer || !current) {
      next.set(id, null); // merged away or erased meanwhile
      continue;
    }
    const subject: Subject = { customer, events: events.get(id) ?? [] };
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
  await applyChanges(client, workspaceId, changes, now);
  await rescheduleDue(client, workspaceId, next);
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

// A customer's row, with the value of the last fit (null before one) as conditions and templates read it.
const FACTS_SQL = `SELECT c.customer_id, c.user_id, c.email, c.phone, c.telegram_chat_id, c.traits, c.timezone,
       c.locale, c.consents, c.preferred_channel, c.orders, c.revenue, c.first_order_at, c.last_order_at,
       c.first_seen_at, c.last_seen_at,
       CASE WHEN v.customer_id IS NOT NULL
            THEN json_build_object(${VALUE_FIELDS.map((f) => `'${f}', v.${f}`).join(", ")}) END AS value
  FROM customers c
  LEFT JOIN customer_value v ON v.workspace_id = c.workspace_id AND v.customer_id = c.customer_id
 WHERE c.workspace_id = $1 AND c.customer_id = ANY($2::bigint[])`;

export async function loadFacts(
  client: Queryable,
  workspaceId: number,
  ids: readonly string[],
): Promise<Map<string, CustomerFacts>> {
  const { rows } = await client.query<
    Omit<CustomerFacts, "value"> & { revenue: string; value: CustomerValueFacts | null }
  >(FACTS_SQL, [workspaceId, ids]);
  return new Map(rows.map((r) => [r.customer_id, { ...r, revenue: Number(r.revenue) }]));
}

/** The events the conditions can read: their selectors, inside the longest window. */
export async function loadEvents(
  client: Queryable,
  workspaceId: number,
  ids: readonly string[],
  deps: readonly Pick<EffectiveDeps, "events" | "maxWindowMs">[],
  now: Date,
): Promise<Map<string, SubjectEvent[]>> {
  const names = new Set<string>();
  const types = new Set<string>();
  let window: number | null = 0;
  for (const d of deps) {
    for (const e of d.events) {
      if (e.startsWith("event:")) names.add(e.slice(6));
      else if (e.startsWith("type:")) types.add(e.slice(5));
    }
    window = window === null || d.maxWindowMs === null ? null : Math.max(window, d.maxWindowMs);
  }
  const out = new Map<string, SubjectEvent[]>();
  if (names.size === 0 && types.size === 0) return out;
  const { rows } = await client.query<SubjectEvent & { customer_id: string }>(
    `SELECT customer_id, type, name, occurred_at, message_id, properties FROM events
      WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[])
        AND ($3::timestamptz IS NULL OR occurred_at > $3)
        AND (type = ANY($4::text[]) OR (type = 'track' AND name = ANY($5::text[])))`,
    [workspaceId, ids, window === null ? null : new Date(now.getTime() - window), [...types], [...names]],
  );
  for (const r of rows) {
    const { customer_id, ...event } = r;
    const list = out.get(customer_id);
    if (list) list.push(event);
    else out.set(customer_id, [event]);
  }
  return out;
}
