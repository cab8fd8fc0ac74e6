// Full recompute of a workspace's segments and stages in SQL, set-wise over the whole base: one query answers
// every condition for every customer into a temporary table, then each segment and the stage list are diffed
// against the open memberships, and every customer's next time-driven check is scheduled.

import { compileSelection } from "../store/condition-sql.ts";
import type { Queryable } from "../store/customers.ts";
import { inboxEventNames } from "../store/engine-inbox.ts";
import type { MembershipModel } from "./membership-model.ts";
import { MEMBERSHIP_LOCK } from "./membership-refresher.ts";

export interface RecomputeResult {
  customers: number;
  entered: number;
  left: number;
  stageChanges: number;
}

export interface RecomputeOptions {
  /** record the changes as segment_entered/segment_exited/stage_changed events (not when a new version is applied) */
  emitEvents: boolean;
}

/** Runs inside the caller's transaction; holds the workspace's membership lock exclusively until it ends. */
export async function recomputeMemberships(
  client: Queryable,
  workspaceId: number,
  model: MembershipModel,
  now: Date,
  opts: RecomputeOptions,
): Promise<RecomputeResult> {
  await client.query("SELECT pg_advisory_xact_lock($1, $2)", [MEMBERSHIP_LOCK, workspaceId]);
  // Whole-base passes: compiling them to machine code (JIT) costs more than it saves, and their hashes and sorts
  // should stay in memory rather than spill to disk.
  await client.query("SET LOCAL jit = off");
  await client.query("SET LOCAL work_mem = '256MB'");
  const segments = model.segments.flatMap((s) =>
    s.segment === null ? [] : [{ name: s.segment, ast: s.conditions[0] }],
  );
  const q = compileSelection({
    workspaceId,
    now,
    env: model.env,
    conditions: segments.flatMap((s) => (s.ast ? [s.ast] : [])),
    withStage: model.stage !== null,
    withNextChange: true,
  });
  const columns = segments.map((_, i) => `c${i} boolean`);
  await client.query("DROP TABLE IF EXISTS tact_want");
  await client.query(
    `CREATE TEMP TABLE tact_want (customer_id bigint, ${[...columns, "stage text", "next_change timestamptz"].join(", ")})
     ON COMMIT DROP`,
  );
  const selected = [
    "customer_id",
    ...segments.map((_, i) => `c${i}`),
    model.stage ? "stage" : "NULL::text",
    "next_change",
  ];
  const ins = await client.query(
    `INSERT INTO tact_want SELECT ${selected.join(", ")} FROM (${q.text}) s`,
    q.values,
  );
  await client.query("ANALYZE tact_want");

  const result: RecomputeResult = { customers: ins.rowCount ?? 0, entered: 0, left: 0, stageChanges: 0 };
  const emit = opts.emitEvents;
  const inboxNames = await inboxEventNames(client, workspaceId);
  // One pass for every segment: the wanted (customer, segment) pairs against the open ones. Segments the strategy
  // no longer has are among the open pairs and close too.
  const names = segments.map((s) => s.name);
  const flags = segments.map((_, i) => `c${i}`);
  const { rows } = await client.query<{ entered: string; left: string }>(
    `WITH wanted AS (
       SELECT w.customer_id, x.name FROM tact_want w,
              unnest(ARRAY[${flags.length > 0 ? flags.join(", ") : "NULL"}]::boolean[], $3::text[]) AS x(flag, name)
        WHERE x.flag),
     current AS (
       SELECT customer_id, name FROM memberships
        WHERE workspace_id = $1 AND kind = 'segment' AND left_at IS NULL),
     gone AS (SELECT customer_id, name FROM current EXCEPT SELECT customer_id, name FROM wanted),
     arrived AS (SELECT customer_id, name FROM wanted EXCEPT SELECT customer_id, name FROM current),
     closed AS (
       UPDATE memberships m SET left_at = $2 FROM gone
        WHERE m.workspace_id = $1 AND m.kind = 'segment' AND m.left_at IS NULL
          AND m.customer_id = gone.customer_id AND m.name = gone.name
       RETURNING m.customer_id, m.name),
     opened AS (
       INSERT INTO memberships (workspace_id, customer_id, kind, name, entered_at)
       SELECT $1, customer_id, 'segment', name, $2 FROM arrived
       RETURNING customer_id, name),
     recorded AS (
       INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
       SELECT $1, x.customer_id, 'tact:' || gen_random_uuid(), 'track', x.event, $2, $2,
              jsonb_build_object('segment', x.segment)
         FROM (SELECT customer_id, name AS segment, 'segment_exited' AS event FROM closed
               UNION ALL SELECT customer_id, name, 'segment_entered' FROM opened) x
        WHERE $4::boolean
       RETURNING customer_id, message_id, name, properties),
     inbox AS (
       INSERT INTO engine_inbox (workspace_id, customer_id, name, message_id, occurred_at, properties, received_at)
       SELECT $1, customer_id, name, message_id, $2, properties, $2 FROM recorded WHERE name = ANY($5::text[]))
     SELECT (SELECT count(*) FROM opened) AS entered, (SELECT count(*) FROM closed) AS left`,
    [workspaceId, now, names, emit, [...inboxNames]],
  );
  result.entered = Number(rows[0]?.entered ?? 0);
  result.left = Number(rows[0]?.left ?? 0);
  result.stageChanges = await recomputeStages(client, workspaceId, now, emit, inboxNames);
  await scheduleTimeChecks(client, workspaceId);
  return result;
}

async function recomputeStages(
  client: Queryable,
  workspaceId: number,
  now: Date,
  emit: boolean,
  inboxNames: ReadonlySet<string>,
): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `WITH cur AS (
       SELECT customer_id, name FROM memberships WHERE workspace_id = $1 AND kind = 'stage' AND left_at IS NULL),
     diff AS (
       SELECT COALESCE(w.customer_id, cur.customer_id) AS customer_id, cur.name AS from_stage, w.stage AS to_stage
         FROM tact_want w FULL JOIN cur ON cur.customer_id = w.customer_id
        WHERE w.stage IS DISTINCT FROM cur.name),
     closed AS (
       UPDATE memberships m SET left_at = $2 FROM diff
        WHERE m.workspace_id = $1 AND m.kind = 'stage' AND m.left_at IS NULL AND m.customer_id = diff.customer_id
       RETURNING m.customer_id),
     -- after \`closed\` (reading it makes it run first): a customer's new stage may not open while the old is open
     opened AS (
       INSERT INTO memberships (workspace_id, customer_id, kind, name, entered_at)
       SELECT $1, customer_id, 'stage', to_stage, $2 FROM diff
        WHERE to_stage IS NOT NULL AND (SELECT count(*) FROM closed) >= 0
       RETURNING customer_id),
     recorded AS (
       INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
       SELECT $1, customer_id, 'tact:' || gen_random_uuid(), 'track', 'stage_changed', $2, $2,
              jsonb_build_object('from', from_stage, 'to', to_stage)
         FROM diff WHERE $3::boolean
       RETURNING customer_id, message_id, name, properties),
     inbox AS (
       INSERT INTO engine_inbox (workspace_id, customer_id, name, message_id, occurred_at, properties, received_at)
       SELECT $1, customer_id, name, message_id, $2, properties, $2 FROM recorded WHERE name = ANY($4::text[]))
     SELECT count(*) AS n FROM diff`,
    [workspaceId, now, emit, [...inboxNames]],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Every customer gets a check at the next moment time alone can change an answer, unless one is due sooner. */
async function scheduleTimeChecks(client: Queryable, workspaceId: number): Promise<void> {
  await client.query(
    `INSERT INTO membership_due AS d (workspace_id, customer_id, due_at, changes)
     SELECT $1, w.customer_id, w.next_change, ARRAY['time'] FROM tact_want w
      WHERE w.next_change IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM membership_due e
         WHERE e.workspace_id = $1 AND e.customer_id = w.customer_id AND e.due_at <= w.next_change)
     ON CONFLICT (workspace_id, customer_id) DO UPDATE SET due_at = EXCLUDED.due_at,
       changes = ARRAY(SELECT DISTINCT unnest(d.changes || EXCLUDED.changes))`,
    [workspaceId],
  );
}
