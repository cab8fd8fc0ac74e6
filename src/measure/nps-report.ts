// The NPS report: % promoters (9–10) − % detractors (0–6) over the `nps_response` events of a period, overall and
// by stage, segment, scenario, week or month, with counts and a 95% confidence interval (core/nps npsFigures).
// Counting is one grouped SQL query; an answer whose score is not a whole number 0–10 is counted apart as invalid.
// Stage and segment are the customer's at the moment of the answer (memberships history), so a detractor who has
// since lapsed still counts where they stood when they answered.
import { type NpsFigures, npsFigures } from "../core/nps/index.ts";
import type { Db } from "../store/db.ts";
import { trackKind } from "../store/event-sql.ts";

export const NPS_GROUPINGS = ["stage", "segment", "scenario", "week", "month"] as const;
export type NpsGrouping = (typeof NPS_GROUPINGS)[number];

export interface NpsGroupRow extends NpsFigures {
  /** the stage, segment or scenario name, the ISO week (`2026-W10`) or month (`2026-03`); `(none)` when absent */
  key: string;
  comments: number;
}

export interface NpsReport {
  workspaceId: number;
  from: string | null;
  to: string;
  by: NpsGrouping | null;
  overall: NpsFigures & { comments: number };
  /** one row per group, in key order; by segment a response counts in every segment the customer was in */
  groups: NpsGroupRow[];
  /** `nps_response` events whose score is not a whole number 0–10: left out of every figure */
  invalid: number;
  /** NPS surveys sent in the period, and responses ÷ those surveys (answers may come to earlier surveys) */
  surveysSent: number;
  responseRate: number | null;
  method: string;
}

export const NPS_METHOD =
  "NPS = % promoters (9–10) − % detractors (0–6). 95% interval: NPS ± 1.96 × 100 × √((p₊ + p₋ − (p₊ − p₋)²) / n), " +
  "the normal interval of the mean of a trinomial (+1, 0, −1), clamped to −100…100; too narrow below a few dozen " +
  "answers. One answer per survey message (the latest). Weeks (ISO, from Monday) and months are in UTC.";

const NONE = "(none)";

interface Counted {
  key: string;
  promoters: number;
  passives: number;
  detractors: number;
  invalid: number;
  comments: number;
}

// The group key of each grouping, over the answers `r` (joined to the memberships open at the answer for
// stage and segment).
const KEY_SQL: Record<NpsGrouping | "all", string> = {
  all: "'all'",
  scenario: `COALESCE(NULLIF(r.scenario, ''), '${NONE}')`,
  week: `to_char(r.occurred_at AT TIME ZONE 'UTC', 'IYYY-"W"IW')`,
  month: `to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM')`,
  stage: `COALESCE(m.name, '${NONE}')`,
  segment: `COALESCE(m.name, '${NONE}')`,
};

function countingSql(by: NpsGrouping | "all"): string {
  const membership =
    by === "stage" || by === "segment"
      ? `LEFT JOIN memberships m ON m.workspace_id = r.workspace_id AND m.customer_id = r.customer_id
           AND m.kind = '${by}' AND m.entered_at <= r.occurred_at
           AND (m.left_at IS NULL OR m.left_at > r.occurred_at)`
      : "";
  return `WITH r AS (
  SELECT e.workspace_id, e.customer_id, e.occurred_at, e.properties ->> 'scenario' AS scenario,
         CASE WHEN jsonb_typeof(e.properties -> 'score') = 'number' THEN (e.properties ->> 'score')::numeric END AS score,
         COALESCE(jsonb_typeof(e.properties -> 'comment') = 'string' AND btrim(e.properties ->> 'comment') <> '',
                  FALSE) AS commented
    FROM events e
   WHERE e.workspace_id = $1 AND e.type = 'track' AND e.name = 'nps_response'
     AND ${trackKind("e")} = 'nps_response' -- the same, as the track-kind index holds it
     AND ($2::timestamptz IS NULL OR e.occurred_at >= $2) AND e.occurred_at < $3
), v AS (
  SELECT r.*, COALESCE(r.score BETWEEN 0 AND 10 AND r.score = trunc(r.score), FALSE) AS valid FROM r
)
SELECT ${KEY_SQL[by]} AS key,
       count(*) FILTER (WHERE valid AND score >= 9)::int AS promoters,
       count(*) FILTER (WHERE valid AND score >= 7 AND score < 9)::int AS passives,
       count(*) FILTER (WHERE valid AND score < 7)::int AS detractors,
       count(*) FILTER (WHERE NOT valid)::int AS invalid,
       count(*) FILTER (WHERE valid AND commented)::int AS comments
  FROM v r ${membership}
 GROUP BY 1
 ORDER BY 1`;
}

export async function npsReport(
  db: Db,
  workspaceId: number,
  opts: { from?: Date; to: Date; by?: NpsGrouping },
): Promise<NpsReport> {
  const from = opts.from ?? null;
  if (from && from.getTime() >= opts.to.getTime()) throw new RangeError("from must be before to");
  const params = [workspaceId, from, opts.to];
  const [overallRows, groupRows, sent] = await Promise.all([
    db.reports.query<Counted>(countingSql("all"), params),
    opts.by
      ? db.reports.query<Counted>(countingSql(opts.by), params)
      : Promise.resolve({ rows: [] as Counted[] }),
    db.reports.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM messages
        WHERE workspace_id = $1 AND survey = 'nps' AND sent_at IS NOT NULL
          AND ($2::timestamptz IS NULL OR sent_at >= $2) AND sent_at < $3`,
      params,
    ),
  ]);
  const all = overallRows.rows[0] ?? {
    key: "all",
    promoters: 0,
    passives: 0,
    detractors: 0,
    invalid: 0,
    comments: 0,
  };
  const overall = { ...npsFigures(all), comments: all.comments };
  const surveysSent = sent.rows[0]?.n ?? 0;
  return {
    workspaceId,
    from: from?.toISOString() ?? null,
    to: opts.to.toISOString(),
    by: opts.by ?? null,
    overall,
    groups: groupRows.rows
      .map((g) => ({ key: g.key, ...npsFigures(g), comments: g.comments }))
      .filter((g) => g.responses > 0),
    invalid: all.invalid,
    surveysSent,
    responseRate: surveysSent > 0 ? Math.round((overall.responses / surveysSent) * 10_000) / 10_000 : null,
    method: NPS_METHOD,
  };
}
