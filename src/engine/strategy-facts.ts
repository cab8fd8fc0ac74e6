// Gathers from the database what the strategy lint and the communication map need to know of the customer base:
// stage sizes (the stage conditions evaluated now, so it works before the strategy is applied), segment sizes,
// each scenario's audience and how often its trigger fired over the last 28 days, and per channel how many
// customers it can reach. One set-based query over the base: every condition is a column of one selection.
import type { AggregateExpr, Expr, LiteralExpr } from "../core/condition/index.ts";
import { compileSelection } from "../store/condition-sql.ts";
import type { Db } from "../store/db.ts";
import { FACTS_WINDOW_DAYS, type ScenarioFacts, type StrategyFacts } from "../strategy/pressure.ts";
import type { Scenario, Strategy } from "../strategy/types.ts";

const DAY = 86_400_000;

// Conditions built here point at no source text: their spans are empty.
const at = { start: 0, end: 0 };
const lit = (value: string | number | boolean): LiteralExpr => ({ kind: "literal", value, ...at });
const and = (left: Expr, right: Expr): Expr => ({ kind: "and", left, right, ...at });
const not = (operand: Expr): Expr => ({ kind: "not", operand, ...at });
const TRUE: Expr = { kind: "const", value: true, ...at };
const FALSE: Expr = { kind: "const", value: false, ...at };

/** How a trigger shows in the events table: the track event's name and the property that names what changed. */
interface TriggerEvents {
  name: string;
  property: string | null;
  value: string | null;
  where: Expr | null;
}

function triggerEvents(sc: Scenario): TriggerEvents | null {
  const t = sc.trigger;
  switch (t.kind) {
    case "event":
      return { name: t.event, property: null, value: null, where: t.where?.ast ?? null };
    case "stage_entered":
      return { name: "stage_changed", property: "to", value: t.stage, where: null };
    case "stage_left":
      return { name: "stage_changed", property: "from", value: t.stage, where: null };
    case "segment_entered":
      return { name: "segment_entered", property: "segment", value: t.segment, where: null };
    case "segment_exited":
      return { name: "segment_exited", property: "segment", value: t.segment, where: null };
    default:
      return null;
  }
}

/** `count(NAME where FILTER, 28d) >= 1`: the customer's trigger fired in the window. */
function firedRecently(te: TriggerEvents): Expr {
  let filter = te.where;
  if (te.property !== null && te.value !== null) {
    const prop: Expr = {
      kind: "compare",
      op: "==",
      left: { kind: "property", path: [te.property], ...at },
      right: lit(te.value),
      ...at,
    };
    filter = filter ? and(filter, prop) : prop;
  }
  const agg: AggregateExpr = {
    kind: "aggregate",
    fn: "count",
    selector: { by: "name", value: te.name, ...at },
    path: null,
    filter,
    window: { kind: "duration", ms: FACTS_WINDOW_DAYS * DAY, text: `${FACTS_WINDOW_DAYS}d`, ...at },
    ...at,
  };
  return { kind: "compare", op: ">=", left: agg, right: lit(1), ...at };
}

/** The audience condition and the state its trigger implies (a stage entered is the stage now, …). */
export function impliedAudience(sc: Scenario): Expr {
  const t = sc.trigger;
  const stageIs = (name: string): Expr => ({
    kind: "compare",
    op: "==",
    left: { kind: "stage", ...at },
    right: lit(name),
    ...at,
  });
  const segment = (name: string): Expr => ({ kind: "segment", name, nameSpan: at, ...at });
  const implied =
    t.kind === "stage_entered"
      ? stageIs(t.stage)
      : t.kind === "stage_left"
        ? not(stageIs(t.stage))
        : t.kind === "segment_entered"
          ? segment(t.segment)
          : t.kind === "segment_exited"
            ? not(segment(t.segment))
            : TRUE;
  return sc.audience ? and(sc.audience.ast, implied) : implied;
}

function channelConditions(
  strategy: Strategy,
): { name: string; contact: Expr; optedIn: Expr; reachable: Expr }[] {
  return Object.values(strategy.channels).map((ch) => {
    const column =
      ch.contact === "email"
        ? "email"
        : ch.contact === "phone"
          ? "phone"
          : ch.contact === "telegram"
            ? "telegram_chat_id"
            : null;
    const contact: Expr =
      column !== null
        ? { kind: "exists", operand: { kind: "field", name: column, ...at }, ...at }
        : ch.contact === "none"
          ? TRUE
          : FALSE;
    const consent = (op: "==" | "!=", state: string): Expr => ({
      kind: "compare",
      op,
      left: { kind: "consent", channel: ch.name, channelSpan: at, ...at },
      right: lit(state),
      ...at,
    });
    const optedIn = and(contact, consent("==", "opted_in"));
    const reachable =
      strategy.rules.consent === "opt_in" ? optedIn : and(contact, consent("!=", "unsubscribed"));
    return { name: ch.name, contact, optedIn, reachable };
  });
}

type Row = Record<string, string | null>;

export async function gatherStrategyFacts(
  db: Db,
  workspaceId: number,
  strategy: Strategy,
  now: Date,
): Promise<StrategyFacts> {
  const conditions: Expr[] = [];
  const column = (e: Expr): string => `c${conditions.push(e) - 1}`;
  const segments = Object.keys(strategy.segments).map((name) => ({
    name,
    col: column({ kind: "segment", name, nameSpan: at, ...at }),
  }));
  const scenarios = Object.values(strategy.scenarios).map((sc) => {
    const audience = impliedAudience(sc);
    const te = triggerEvents(sc);
    return {
      sc,
      te,
      audienceCol: column(audience),
      entrantCol: te ? column(and(audience, firedRecently(te))) : null,
    };
  });
  const channels = channelConditions(strategy).map((c) => ({
    name: c.name,
    contactCol: column(c.contact),
    optedInCol: column(c.optedIn),
    reachableCol: column(c.reachable),
  }));
  const env = {
    channels: Object.fromEntries(Object.values(strategy.channels).map((c) => [c.name, c.contact])),
    segments: new Map(Object.values(strategy.segments).map((s) => [s.name, s.condition.ast])),
    stages: strategy.stages.map((s) => [s.name, s.condition.ast] as const),
    allowSinceEntry: false,
  };
  const q = compileSelection({ workspaceId, now, env, conditions, withStage: true, withNextChange: false });
  const values = [...q.values];
  const param = (v: unknown, cast: string): string => `$${values.push(v)}::${cast}`;

  // Raw counts of each trigger's events per customer, each capped at what re-entry allows in the window.
  const triggerCounts: string[] = [];
  const sums: string[] = [];
  scenarios.forEach((s, i) => {
    if (!s.te || !s.entrantCol) return;
    const match = [`name = ${param(s.te.name, "text")}`];
    if (s.te.property !== null)
      match.push(`properties ->> ${param(s.te.property, "text")} = ${param(s.te.value, "text")}`);
    triggerCounts.push(`count(*) FILTER (WHERE ${match.join(" AND ")}) AS t${i}`);
    const cap = s.sc.reentryMs === null ? 1 : Math.ceil((FACTS_WINDOW_DAYS * DAY) / s.sc.reentryMs);
    sums.push(
      `COALESCE(sum(LEAST(t.t${i}, ${param(cap, "integer")})) FILTER (WHERE sel.${s.entrantCol}), 0) AS entries${i}`,
    );
  });
  const names = [...new Set(scenarios.flatMap((s) => (s.te ? [s.te.name] : [])))];
  const counts = conditions.map((_, i) => `count(*) FILTER (WHERE sel.c${i}) AS n_c${i}`);
  const trigCte =
    triggerCounts.length > 0
      ? `, t AS (SELECT customer_id, ${triggerCounts.join(", ")} FROM events
           WHERE workspace_id = ${param(workspaceId, "integer")} AND type = 'track'
             AND occurred_at > ${param(new Date(now.getTime() - FACTS_WINDOW_DAYS * DAY), "timestamptz")}
             AND occurred_at <= ${param(now, "timestamptz")} AND name = ANY(${param(names, "text[]")})
           GROUP BY customer_id)`
      : "";
  const text = `WITH sel AS (${q.text})${trigCte}
    SELECT sel.stage, count(*) AS n${[...counts, ...sums].map((c) => `, ${c}`).join("")}
    FROM sel${trigCte ? " LEFT JOIN t ON t.customer_id = sel.customer_id" : ""}
    GROUP BY sel.stage`;
  const { rows } = await db.pool.query<Row>(text, values);

  const total = (key: string): number => rows.reduce((n, r) => n + Number(r[key] ?? 0), 0);
  const byStage = (key: string): Record<string, number> =>
    Object.fromEntries(
      rows.filter((r) => r.stage !== null).map((r) => [String(r.stage), Number(r[key] ?? 0)]),
    );
  const scenarioFacts: Record<string, ScenarioFacts> = {};
  scenarios.forEach((s, i) => {
    scenarioFacts[s.sc.name] = {
      audience: total(`n_${s.audienceCol}`),
      audienceByStage: byStage(`n_${s.audienceCol}`),
      entries: s.entrantCol ? total(`entries${i}`) : null,
      entrants: s.entrantCol ? total(`n_${s.entrantCol}`) : null,
    };
  });
  const stageSizes = byStage("n");
  return {
    at: now.toISOString(),
    windowDays: FACTS_WINDOW_DAYS,
    customers: total("n"),
    stages: Object.fromEntries(strategy.stages.map((s) => [s.name, stageSizes[s.name] ?? 0])),
    segments: Object.fromEntries(segments.map((s) => [s.name, total(`n_${s.col}`)])),
    scenarios: scenarioFacts,
    channels: Object.fromEntries(
      channels.map((c) => [
        c.name,
        {
          withContact: total(`n_${c.contactCol}`),
          optedIn: total(`n_${c.optedInCol}`),
          reachable: total(`n_${c.reachableCol}`),
        },
      ]),
    ),
  };
}
