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
  const selected = [
    "customer_id",
    ...segments.map((_, i) => `c${i}`),
    `${model.stage ? "stage" : "NULL::text"} AS stage`,
    "next_change",
  ];
  // CREATE TABLE AS, not INSERT … SELECT: only the former lets a PostgreSQL server read the events with parallel
  // workers.
  await client.query("DROP TABLE IF EXISTS tact_want");
  const ins = await client.query(
    `CREATE TEMP TABLE tact_want ON COMMIT DROP AS SELECT ${selected.join(", ")} FROM (${q.text}) s`,
    q.values,
  );
  await client.query("ANALYZE tact_want");

  const result: RecomputeResult = { customers: ins.rowCount ?? 0, entered: 0, left: 0, stageChanges: 0 };
  const emit = opts.emitEvents;
  const inboxNames = await inboxEventNames(client, workspaceId);
  const names = segments.map((s) => s.name);
  await findChanged(client, workspaceId, names);
  // One pass for every segment over the customers whose answers changed: the wanted (customer, segment) pairs
  // against the open ones. Segments the strategy no longer has are among the open pairs and close too.
  const flags = segments.map((_, i) => `c${i}`);
  const { rows } = await client.query<{ entered: string; left: string }>(
    `WITH wanted AS (
       SELECT w.customer_id, x.name FROM tact_want w JOIN tact_changed USING (customer_id),
              unnest(ARRAY[${flags.length > 0 ? flags.join(", ") : "NULL"}]::boolean[], $3::text[]) AS x(flag, name)
        WHERE x.flag),
     current AS (
       SELECT m.customer_id, m.name FROM memberships m JOIN tact_changed USING (customer_id)
        WHERE m.workspace_id = $1 AND m.kind = 'segment' AND m.left_at IS NULL),
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
    `WITH diff AS (
       SELECT customer_id, from_stage, to_stage FROM tact_changed WHERE to_stage IS DISTINCT FROM from_stage),
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

/**
 * The customers whose segments or stage differ from their open memberships, into tact_changed: one pass over the
 * open memberships, folded per customer into bit masks of their segments (63 to a bigint) and their stage, against
 * the same masks of the wanted answers. Only these customers are diffed in detail, so a recompute that changes
 * little costs one scan of the memberships, not a comparison of every (customer, segment) pair.
 */
async function findChanged(client: Queryable, workspaceId: number, names: readonly string[]): Promise<void> {
  const words = Math.max(1, Math.ceil(names.length / 63));
  const range = [...Array(words).keys()];
  const wantMask = (k: number) =>
    names
      .flatMap((_, i) =>
        Math.floor(i / 63) === k ? [`(CASE WHEN w.c${i} THEN ${2n ** BigInt(i % 63)}::int8 ELSE 0 END)`] : [],
      )
      .join(" | ") || "0::int8";
  // Word k of an open segment's bit; a segment the strategy no longer has sets the sign bit of word 0, which no
  // wanted mask has, so its customer is always diffed (and the segment closed).
  const position = "array_position($2::text[], m.name)";
  const curMask = (k: number) =>
    `bit_or(CASE WHEN m.kind = 'segment' THEN ${
      k === 0
        ? `CASE WHEN ${position} IS NULL THEN '-9223372036854775808'::int8 WHEN ${position} <= 63 THEN 1::int8 << (${position} - 1) ELSE 0 END`
        : `CASE WHEN (${position} - 1) / 63 = ${k} THEN 1::int8 << ((${position} - 1) % 63) ELSE 0 END`
    } ELSE 0 END)`;
  await client.query("DROP TABLE IF EXISTS tact_changed");
  await client.query(
    `CREATE TEMP TABLE tact_changed ON COMMIT DROP AS
     WITH cur AS (
       SELECT m.customer_id, ${range.map((k) => `${curMask(k)} AS m${k}`).join(", ")},
              max(m.name) FILTER (WHERE m.kind = 'stage') AS stage
         FROM memberships m
        WHERE m.workspace_id = $1 AND m.left_at IS NULL
        GROUP BY m.customer_id)
     SELECT COALESCE(w.customer_id, c.customer_id) AS customer_id, c.stage AS from_stage, w.stage AS to_stage
       FROM (SELECT w.customer_id, w.stage, ${range.map((k) => `${wantMask(k)} AS m${k}`).join(", ")}
               FROM tact_want w) w
       FULL JOIN cur c ON c.customer_id = w.customer_id
      WHERE w.customer_id IS NULL OR c.customer_id IS NULL OR w.stage IS DISTINCT FROM c.stage
         ${range.map((k) => `OR w.m${k} <> c.m${k}`).join(" ")}`,
    [workspaceId, names],
  );
  await client.query("ANALYZE tact_changed");
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
