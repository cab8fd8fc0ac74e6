// The attribution report: the revenue of a period's orders shared among the messages that touched each buyer
// before the order (core/attribution: per-channel windows, five models), added up by message (scenario, step,
// template), scenario and channel. One SQL query pairs each conversion with its eligible touches (opens, clicks,
// deliveries inside their channel's window) and is read through a cursor, conversion by conversion, so memory holds
// one page however many events the period has; conversions no touch reached are only counted, by another query.
// Attributed revenue says where revenue came from, never what the messages added: that is the control groups'
// answer (SPEC §7), and every figure here is labelled "attributed".
import {
  ATTRIBUTION_MODELS,
  type AttributionModel,
  attribute,
  type Conversion,
  DEFAULT_WINDOWS,
  type Touch,
} from "../core/attribution/index.ts";
import type { Db } from "../store/db.ts";
import { inCurrency } from "../store/event-sql.ts";
import { currentCurrency } from "../store/strategies.ts";
import { PROVIDER_KIND } from "../strategy/channel-kinds.ts";
import type { Provider } from "../strategy/types.ts";
import { parseDuration } from "../strategy/values.ts";
import { otherCurrenciesWarning } from "./currency-note.ts";

export { ATTRIBUTION_MODELS };
export type AttributionModelName = AttributionModel;

export interface AttributedTotal {
  attributedRevenue: number;
  /** conversions credited to it: the sum of its shares (a conversion shared by two messages counts ½ each) */
  attributedConversions: number;
}

export interface AttributionReport {
  workspaceId: number;
  from: string | null;
  to: string;
  model: AttributionModelName;
  /** what the figures are, in words, for every reader */
  label: string;
  conversions: {
    /** orders and refunds in the period, and their net revenue (refunds negative) */
    count: number;
    revenue: number;
    refunds: number;
    attributed: { count: number; revenue: number };
    /** conversions no message touched inside its window: shown apart, never spread over messages */
    unattributed: { count: number; revenue: number };
  };
  byMessage: ({ scenario: string; step: string; template: string } & AttributedTotal)[];
  byScenario: ({ scenario: string } & AttributedTotal)[];
  byChannel: ({ channel: string } & AttributedTotal)[];
  /** `channel.interaction` → window in hours, as used */
  windowsHours: Record<string, number>;
  /** the strategy's currency, which every amount is in (null: no strategy applied) */
  currency: string | null;
  /** what the figures leave out, and why (orders in another currency) */
  warnings: string[];
}

export const ATTRIBUTION_LABEL =
  "Attributed revenue: where revenue came from under the chosen model, not what the messages added. " +
  "Incremental effect is measured against control groups (report scenarios / metrics).";

const PAGE = 5000;
const NONE = "(none)";

// Conversions are the orders and refunds of order_facts (store/event-sql.ts, migration 012); touches are the
// converting customers' interaction events, read by customer through events_track_customer_idx (customer, name,
// time): the names are one range of it, one descent per customer and month (one per name took a quarter longer),
// not every event of the customer's months. Tact records interactions under exactly these names.
const INTERACTION_NAMES = ["message_delivered", "message_opened", "message_clicked"] as const;
/** the interaction names' first and last in the index's order: one range of events_track_customer_idx holds them */
const NAME_RANGE = [...INTERACTION_NAMES].sort().filter((_, i, all) => i === 0 || i === all.length - 1);

// $1 workspace, $2 from (or null), $3 to, $4 channels, $5 interactions, $6 window ms, $7 longest window ms,
// $8 the strategy's currency (or null): orders in another are not conversions here (their money is another unit).
const IN_CURRENCY = inCurrency("c", "$8");
// A refund is credited back to the touches that earned its order (the customer's order with the same
// properties.order_id, before the refund); without one, to the touches before the refund itself.
const PAIRS_SQL = `WITH credited AS (
  SELECT c.customer_id, c.message_id AS conversion_id,
         CASE WHEN c.refund THEN -abs(c.amount) ELSE c.amount END AS amount,
         COALESCE(o.occurred_at, c.occurred_at) AS credit_at
    FROM order_facts c
    LEFT JOIN LATERAL (
      SELECT f.occurred_at FROM order_facts f
       WHERE c.refund AND c.order_id IS NOT NULL
         AND f.workspace_id = $1 AND f.customer_id = c.customer_id AND NOT f.refund AND f.order_id = c.order_id
         AND f.occurred_at <= c.occurred_at
       ORDER BY f.occurred_at DESC LIMIT 1) o ON TRUE
   WHERE c.workspace_id = $1 AND ($2::timestamptz IS NULL OR c.occurred_at >= $2) AND c.occurred_at < $3
     AND ${IN_CURRENCY}
), w AS (
  SELECT * FROM unnest($4::text[], $5::text[], $6::float8[]) AS w(channel, interaction, ms)
), k AS (
  -- the converting customers, each with the span their touches can fall in, in the order of the index their
  -- touches are looked up in: neighbouring lookups read neighbouring pages (a year's 272,000 lookups took a third
  -- longer in hash order)
  SELECT customer_id, min(credit_at) - $7::float8 * interval '1 millisecond' AS lo, max(credit_at) AS hi
    FROM credited GROUP BY customer_id ORDER BY customer_id
), touch AS (
  -- each converting customer's interactions, looked up by customer: a period's conversions are a few customers
  -- of many, their touches a few of the period's interactions
  SELECT e.customer_id, e.properties ->> 'message_id' AS message_id, w.channel, w.interaction,
         e.occurred_at, w.ms, e.properties ->> 'scenario' AS scenario, e.properties ->> 'step_id' AS step,
         e.properties ->> 'template' AS template
    FROM k CROSS JOIN LATERAL (
      SELECT * FROM events e
       WHERE e.workspace_id = $1 AND e.customer_id = k.customer_id AND e.type = 'track'
         -- the names as one range of the index (one descent per customer and month), then exactly
         AND e.name >= '${NAME_RANGE[0]}' AND e.name <= '${NAME_RANGE[1]}'
         AND e.name IN (${INTERACTION_NAMES.map((n) => `'${n}'`).join(", ")})
         AND e.occurred_at >= k.lo AND e.occurred_at <= k.hi
         -- the whole span too: the months outside it are pruned once, not probed for each customer
         AND e.occurred_at >= (SELECT min(lo) FROM k) AND e.occurred_at <= (SELECT max(hi) FROM k)) e
    JOIN w ON w.channel = e.properties ->> 'channel' AND w.interaction = substr(e.name, 9)
   WHERE e.properties ->> 'message_id' IS NOT NULL
)
SELECT c.customer_id, c.conversion_id, c.amount::float8 AS amount, c.credit_at,
       t.message_id, t.channel, t.interaction, t.occurred_at AS touched_at, t.scenario, t.step, t.template
  FROM credited c
  JOIN touch t ON t.customer_id = c.customer_id AND t.occurred_at <= c.credit_at
                   AND t.occurred_at >= c.credit_at - t.ms * interval '1 millisecond'
 ORDER BY c.customer_id, c.conversion_id`;

/** Every conversion of the period, touched or not: the pairs above hold only those with a touch. */
const TOTALS_SQL = `SELECT count(*) AS count, count(*) FILTER (WHERE refund) AS refunds,
       COALESCE(sum(CASE WHEN refund THEN -abs(amount) ELSE amount END), 0)::float8 AS revenue
  FROM order_facts c
 WHERE workspace_id = $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2) AND occurred_at < $3
   AND ${inCurrency("c", "$4")}`;

interface PairRow {
  customer_id: string;
  conversion_id: string;
  amount: number;
  credit_at: Date;
  message_id: string | null;
  channel: string | null;
  interaction: string | null;
  touched_at: Date | null;
  scenario: string | null;
  step: string | null;
  template: string | null;
}

/** `channel.interaction` → window (ms) for every channel of every applied version, by its provider's kind. */
export async function attributionWindows(db: Db, workspaceId: number): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{
    name: string;
    provider: string;
    contact: string | null;
    overrides: Record<string, unknown> | null;
  }>(
    `SELECT DISTINCT ON (c.key) c.key AS name, c.value ->> 'provider' AS provider, c.value ->> 'contact' AS contact,
            c.value -> 'attribution_windows' AS overrides
       FROM strategy_versions v, jsonb_each(COALESCE(v.document -> 'channels', '{}'::jsonb)) c
      WHERE v.workspace_id = $1 AND jsonb_typeof(v.document -> 'channels') = 'object'
      ORDER BY c.key, v.version DESC`,
    [workspaceId],
  );
  // a channel the strategy names gets its kind's windows; other names (no strategy yet) are taken as kinds
  const named = new Set(rows.map((r) => r.name));
  const windows: Record<string, number> = Object.fromEntries(
    Object.entries(DEFAULT_WINDOWS).filter(([key]) => !named.has(key.slice(0, key.lastIndexOf(".")))),
  );
  const SINK_KIND: Record<string, string> = {
    email: "email",
    phone: "sms",
    telegram: "telegram",
    push: "push",
  };
  for (const r of rows) {
    const kind = PROVIDER_KIND[r.provider as Provider] as string | undefined;
    const base = kind === "sink" ? SINK_KIND[r.contact ?? ""] : kind;
    for (const interaction of ["delivered", "opened", "clicked"]) {
      // the strategy's own window for the channel (validated when applied; 0s: not a touch), else its kind's
      const own = r.overrides?.[interaction];
      const parsed = own === undefined ? null : parseDuration(own, true);
      const ms = parsed?.ok ? parsed.value : base ? DEFAULT_WINDOWS[`${base}.${interaction}`] : undefined;
      if (ms !== undefined && ms > 0) windows[`${r.name}.${interaction}`] = ms;
    }
  }
  return windows;
}

class Totals {
  readonly map = new Map<string, AttributedTotal>();
  add(key: string, revenue: number, share: number): void {
    const t = this.map.get(key) ?? { attributedRevenue: 0, attributedConversions: 0 };
    t.attributedRevenue += revenue;
    t.attributedConversions += share;
    this.map.set(key, t);
  }
}

interface Meta {
  scenario: string;
  step: string;
  template: string;
}

export async function attributionReport(
  db: Db,
  workspaceId: number,
  opts: {
    from?: Date;
    to: Date;
    model?: AttributionModelName;
    /** false: no warning naming the orders in another currency (the metrics tree notes them once, itself) */
    currencyWarning?: boolean;
  },
): Promise<AttributionReport> {
  const model = opts.model ?? "last_touch";
  if (!(ATTRIBUTION_MODELS as readonly string[]).includes(model))
    throw new RangeError(`unknown model ${model}`);
  const from = opts.from ?? null;
  if (from && from.getTime() >= opts.to.getTime()) throw new RangeError("from must be before to");
  const windows = await attributionWindows(db, workspaceId);
  const entries = Object.entries(windows).map(([key, ms]) => {
    const dot = key.lastIndexOf(".");
    return [key.slice(0, dot), key.slice(dot + 1), ms] as const;
  });
  const longest = Math.max(0, ...entries.map(([, , ms]) => ms));
  const currency = await currentCurrency(db.pool, workspaceId);
  const params = [
    workspaceId,
    from,
    opts.to,
    entries.map((e) => e[0]),
    entries.map((e) => e[1]),
    entries.map((e) => e[2]),
    longest,
    currency,
  ];

  const byMessage = new Totals();
  const byScenario = new Totals();
  const byChannel = new Totals();
  const conv = { count: 0, revenue: 0, refunds: 0, attributedCount: 0, attributedRevenue: 0 };
  // the conversions read below are those with a touch in their window; the totals count every conversion
  // assigned inside settle() too: the cast keeps TypeScript from narrowing it to null here
  let current = null as { id: string; conversion: Conversion; touches: Touch[] } | null;
  const meta = new Map<Touch, Meta>();

  const settle = () => {
    if (!current) return;
    const credits = attribute(current.conversion, current.touches, { model, windows });
    if (credits.length > 0) {
      conv.attributedCount++;
      conv.attributedRevenue += current.conversion.revenue;
    }
    for (const c of credits) {
      const m = meta.get(c.touch) ?? { scenario: NONE, step: NONE, template: NONE };
      byMessage.add(JSON.stringify([m.scenario, m.step, m.template]), c.revenue, c.share);
      byScenario.add(m.scenario, c.revenue, c.share);
      byChannel.add(c.touch.channel, c.revenue, c.share);
    }
    meta.clear();
    current = null;
  };

  const client = await db.pool.connect();
  try {
    // one snapshot for the totals and the pairs
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const totals = (
      await client.query<{ count: string; refunds: string; revenue: number }>(TOTALS_SQL, [
        ...params.slice(0, 3),
        currency,
      ])
    ).rows[0];
    conv.count = Number(totals?.count ?? 0);
    conv.refunds = Number(totals?.refunds ?? 0);
    conv.revenue = Number(totals?.revenue ?? 0);
    // every row is read: plan for the whole result, not for the first rows (a cursor's default)
    await client.query("SET LOCAL cursor_tuple_fraction = 1");
    await client.query(`DECLARE attribution_pairs NO SCROLL CURSOR FOR ${PAIRS_SQL}`, params);
    for (;;) {
      const { rows } = await client.query<PairRow>(`FETCH ${PAGE} FROM attribution_pairs`);
      for (const r of rows) {
        const id = `${r.customer_id}:${r.conversion_id}`;
        if (current?.id !== id) {
          settle();
          current = {
            id,
            conversion: { at: r.credit_at.getTime(), revenue: Number(r.amount) },
            touches: [],
          };
        }
        if (r.message_id !== null && r.touched_at !== null && r.channel !== null && r.interaction !== null) {
          const touch: Touch = {
            messageId: r.message_id,
            scenario: r.scenario,
            channel: r.channel,
            kind: r.interaction,
            at: r.touched_at.getTime(),
          };
          meta.set(touch, {
            scenario: r.scenario ?? NONE,
            step: r.step ?? NONE,
            template: r.template ?? NONE,
          });
          current.touches.push(touch);
        }
      }
      if (rows.length < PAGE) break;
    }
    settle();
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }

  const other =
    currency && opts.currencyWarning !== false
      ? await otherCurrenciesWarning(db.pool, workspaceId, from, opts.to, currency)
      : null;
  const money = (x: number) => Math.round(x * 10_000) / 10_000;
  const total = (t: AttributedTotal): AttributedTotal => ({
    attributedRevenue: money(t.attributedRevenue),
    attributedConversions: Math.round(t.attributedConversions * 10_000) / 10_000,
  });
  const sorted = <K>(m: Totals, key: (k: string) => K) =>
    [...m.map.entries()]
      .sort(
        ([ka, a], [kb, b]) => b.attributedRevenue - a.attributedRevenue || (ka < kb ? -1 : ka > kb ? 1 : 0),
      )
      .map(([k, t]) => ({ ...key(k), ...total(t) }));
  return {
    workspaceId,
    from: from?.toISOString() ?? null,
    to: opts.to.toISOString(),
    model,
    label: ATTRIBUTION_LABEL,
    conversions: {
      count: conv.count,
      revenue: money(conv.revenue),
      refunds: conv.refunds,
      attributed: { count: conv.attributedCount, revenue: money(conv.attributedRevenue) },
      unattributed: {
        count: conv.count - conv.attributedCount,
        revenue: money(conv.revenue - conv.attributedRevenue),
      },
    },
    byMessage: sorted(byMessage, (k) => {
      const [scenario = NONE, step = NONE, template = NONE] = JSON.parse(k) as string[];
      return { scenario, step, template };
    }),
    byScenario: sorted(byScenario, (scenario) => ({ scenario })),
    byChannel: sorted(byChannel, (channel) => ({ channel })),
    windowsHours: Object.fromEntries(Object.entries(windows).map(([k, ms]) => [k, ms / 3_600_000])),
    currency,
    warnings: other ? [other] : [],
  };
}
