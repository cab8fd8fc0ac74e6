// A copy of one workspace of the configured database into the simulation's throw-away database: the workspace
// (its salt, so control groups and splits fall as they do live; its identity settings), every customer and
// identifier, and the events the strategy's conditions can read (the names and types they count, as far back as
// their longest window). The source is only read.
import { children, type Expr } from "../core/condition/ast.ts";
import type { Db } from "../store/db.ts";
import { ensureEventPartitions } from "../store/partitions.ts";
import { NotFoundError } from "../store/workspaces.ts";
import type { Step, Strategy } from "../strategy/types.ts";

export interface CopyCounts {
  customers: number;
  identities: number;
  events: number;
}

const PAGE = 2_000;

/** One kind of event the conditions count, and from when (null: all time). */
export interface EventRead {
  by: "type" | "name";
  value: string;
  windowMs: number | null;
}

/**
 * What events the strategy's conditions read, each kind with its longest window. Counts since a scenario's
 * entry need no history: every entry of a simulation starts inside it.
 */
export function eventsRead(strategy: Strategy): EventRead[] {
  const asts: Expr[] = [
    ...strategy.stages.map((s) => s.condition.ast),
    ...Object.values(strategy.segments).map((s) => s.condition.ast),
  ];
  const walk = (steps: readonly Step[]) => {
    for (const s of steps) {
      if (s.kind === "exit_if") asts.push(s.condition.ast);
      else if (s.kind === "branch") {
        for (const b of s.branches) {
          asts.push(b.if.ast);
          walk(b.steps);
        }
        walk(s.else);
      } else if (s.kind === "split") for (const a of s.arms) walk(a.steps);
    }
  };
  for (const sc of Object.values(strategy.scenarios)) {
    if (sc.audience) asts.push(sc.audience.ast);
    if (sc.exitIf) asts.push(sc.exitIf.ast);
    walk(sc.steps);
  }
  const reads = new Map<string, EventRead>();
  const visit = (e: Expr): void => {
    if (e.kind === "aggregate" && e.window?.kind !== "since_entry") {
      const key = `${e.selector.by}:${e.selector.value}`;
      const windowMs = e.window ? e.window.ms : null;
      const known = reads.get(key);
      if (!known) reads.set(key, { by: e.selector.by, value: e.selector.value, windowMs });
      else if (known.windowMs !== null)
        known.windowMs = windowMs === null ? null : Math.max(known.windowMs, windowMs);
    }
    for (const c of children(e)) visit(c);
  };
  for (const ast of asts) visit(ast);
  return [...reads.values()].sort((a, b) => `${a.by}:${a.value}`.localeCompare(`${b.by}:${b.value}`));
}

/**
 * Copies workspace `name` of `from` into `to` (a fresh, migrated database) under the same workspace id, name,
 * salt and settings. Rows go across as JSON so that a source migrated by a newer version (extra columns) still
 * copies. Returns the workspace id in `to`.
 */
export async function copyWorkspace(
  from: Db,
  to: Db,
  name: string,
  strategy: Strategy,
  start: Date,
): Promise<{ workspaceId: number; counts: CopyCounts }> {
  const ws = await from.pool.query<{ workspace_id: number; row: string }>(
    "SELECT workspace_id, row_to_json(w)::text AS row FROM workspaces w WHERE name = $1",
    [name],
  );
  const source = ws.rows[0];
  if (!source) throw new NotFoundError(`no workspace ${name} in the configured database`);
  await to.pool.query(
    `INSERT INTO workspaces OVERRIDING SYSTEM VALUE
       SELECT * FROM json_populate_record(NULL::workspaces, $1::json)`,
    [source.row],
  );
  await to.pool.query(
    "SELECT setval(pg_get_serial_sequence('workspaces', 'workspace_id'), (SELECT max(workspace_id) FROM workspaces))",
  );
  // The global control group's salt periods too: after a rotation the simulated group is the live one.
  const periods = await from.pool.query<{ rows: string }>(
    "SELECT coalesce(json_agg(p), '[]')::text AS rows FROM global_control_periods p WHERE workspace_id = $1",
    [source.workspace_id],
  );
  await to.pool.query(
    "INSERT INTO global_control_periods SELECT * FROM json_populate_recordset(NULL::global_control_periods, $1::json)",
    [periods.rows[0]?.rows ?? "[]"],
  );
  const counts: CopyCounts = { customers: 0, identities: 0, events: 0 };
  const selectors = JSON.stringify(
    eventsRead(strategy).map((r) => ({
      kind: r.by,
      value: r.value,
      since: r.windowMs === null ? null : new Date(start.getTime() - r.windowMs).toISOString(),
    })),
  );
  await preparePartitions(from, to, source.workspace_id);
  let after = "-1";
  for (;;) {
    const page = await from.pool.query<{ last: string | null; n: number; rows: string }>(
      `SELECT max(customer_id)::text AS last, count(*)::int AS n, coalesce(json_agg(c), '[]')::text AS rows
         FROM (SELECT * FROM customers WHERE workspace_id = $1 AND customer_id > $2
                ORDER BY customer_id LIMIT $3) c`,
      [source.workspace_id, after, PAGE],
    );
    const p = page.rows[0];
    if (!p || p.n === 0 || p.last === null) break;
    await insertJson(to, "customers", p.rows);
    counts.customers += p.n;
    counts.identities += await copyRange(from, to, "identities", source.workspace_id, after, p.last, "");
    counts.events += await copyRange(
      from,
      to,
      "events",
      source.workspace_id,
      after,
      p.last,
      ` AND EXISTS (SELECT 1 FROM json_to_recordset($4::json) s(kind text, value text, since timestamptz)
          WHERE (CASE WHEN s.kind = 'type' THEN t.type = s.value ELSE t.type = 'track' AND t.name = s.value END)
            AND (s.since IS NULL OR t.occurred_at > s.since))`,
      [selectors],
    );
    after = p.last;
  }
  // New customers created by ingestion during the simulation must not take a copied customer's id.
  await to.pool.query(
    "SELECT setval('customer_id_seq', greatest((SELECT coalesce(max(customer_id), 0) FROM customers), 1))",
  );
  for (const table of ["customers", "identities", "events"]) await to.pool.query(`ANALYZE ${table}`);
  return { workspaceId: source.workspace_id, counts };
}

async function copyRange(
  from: Db,
  to: Db,
  table: "identities" | "events",
  ws: number,
  after: string,
  last: string,
  extra: string,
  params: unknown[] = [],
): Promise<number> {
  const { rows } = await from.pool.query<{ n: number; rows: string }>(
    `SELECT count(*)::int AS n, coalesce(json_agg(t), '[]')::text AS rows FROM ${table} t
      WHERE workspace_id = $1 AND customer_id > $2 AND customer_id <= $3${extra}`,
    [ws, after, last, ...params],
  );
  const r = rows[0];
  if (!r || r.n === 0) return 0;
  await insertJson(to, table, r.rows);
  return r.n;
}

async function insertJson(to: Db, table: string, json: string): Promise<void> {
  await to.pool.query(
    `INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)`,
    [json],
  );
}

/** The monthly partitions the copied events may need. */
async function preparePartitions(from: Db, to: Db, ws: number): Promise<void> {
  const { rows } = await from.pool.query<{ first: Date | null; last: Date | null }>(
    "SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM events WHERE workspace_id = $1",
    [ws],
  );
  const r = rows[0];
  if (!r?.first || !r.last) return;
  const months: Date[] = [];
  const d = new Date(Date.UTC(r.first.getUTCFullYear(), r.first.getUTCMonth(), 1));
  while (d.getTime() <= r.last.getTime()) {
    months.push(new Date(d));
    d.setUTCMonth(d.getUTCMonth() + 1);
  }
  await ensureEventPartitions(to, months);
}
