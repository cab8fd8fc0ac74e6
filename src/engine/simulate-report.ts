// What a simulation reports, read from the simulation's database after the run: messages sent per customer per
// week by channel, every fate and its reason, cost, the customers the caps held back, and each scenario's
// entries by outcome. Deferrals are counted while the run goes (a deferred message is decided again later and
// its row then shows the later fate), the rest at the end. Everything is ordered so that the same run gives the
// same report.
import type { Queryable } from "../store/customers.ts";
import type { Db } from "../store/db.ts";
import type { Strategy } from "../strategy/types.ts";

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
const TOP = 10;

export interface ReasonCount {
  reason: string;
  count: number;
}

export interface WeekRow {
  week: number;
  from: string;
  to: string;
  days: number;
  /** customers known by the end of the week */
  customers: number;
  /** customers who were sent at least one message that week */
  recipients: number;
  sent: Record<string, number>;
  /** sent per customer known that week, by channel and in all */
  perCustomer: Record<string, number>;
  /** the most messages one customer was sent that week */
  maxPerCustomer: number;
}

export interface ChannelRow {
  channel: string;
  sent: number;
  recipients: number;
  perCustomerPerWeek: number;
  cost: number;
}

export interface ScenarioRow {
  scenario: string;
  entries: number;
  active: number;
  completed: number;
  exited: number;
  goalReached: number;
  failed: number;
  sent: number;
  suppressed: number;
}

export interface CapRow {
  customerId: string;
  userId: string | null;
  capped: number;
  sent: number;
}

export interface SimulationFigures {
  customers: { atStart: number; atEnd: number };
  messages: { planned: number; sent: number; byFate: Record<string, number> };
  weeks: WeekRow[];
  channels: ChannelRow[];
  suppressions: ReasonCount[];
  deferrals: ReasonCount[];
  failures: ReasonCount[];
  cost: { total: number; currency: string; byChannel: Record<string, number> };
  caps: { customers: number; suppressions: number; top: CapRow[] };
  scenarios: ScenarioRow[];
}

/** Deferrals decided in each round, counted as the run goes (the rows later show what became of them). */
export class DeferralCounter {
  readonly #counts = new Map<string, number>();

  /** A partial index in the throw-away database keeps the count per round cheap. */
  static async prepare(db: Db): Promise<void> {
    await db.pool.query(
      "CREATE INDEX IF NOT EXISTS simulate_deferred_idx ON messages (updated_at) WHERE fate = 'deferred'",
    );
  }

  /** Counts the deferrals decided at `now` (every decision of a round carries the round's time). */
  async count(client: Queryable, workspaceId: number, now: Date): Promise<void> {
    const { rows } = await client.query<{ reason: string | null; n: number }>(
      `SELECT reason, count(*)::int AS n FROM messages
        WHERE fate = 'deferred' AND updated_at = $2 AND workspace_id = $1 GROUP BY reason`,
      [workspaceId, now],
    );
    for (const r of rows) {
      const reason = r.reason ?? "unknown";
      this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + r.n);
    }
  }

  get counts(): ReasonCount[] {
    return sortReasons([...this.#counts].map(([reason, count]) => ({ reason, count })));
  }
}

function sortReasons(rows: ReasonCount[]): ReasonCount[] {
  return rows.sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function simulationFigures(
  client: Queryable,
  ws: number,
  strategy: Strategy,
  span: { start: Date; end: Date; customersAtStart: number },
  deferrals: ReasonCount[],
): Promise<SimulationFigures> {
  const channels = Object.keys(strategy.channels);
  const fates = await client.query<{ fate: string; n: number }>(
    "SELECT fate, count(*)::int AS n FROM messages WHERE workspace_id = $1 GROUP BY fate ORDER BY fate",
    [ws],
  );
  const byFate = Object.fromEntries(fates.rows.map((r) => [r.fate, r.n]));
  const byChannel = await client.query<{ channel: string; n: number; recipients: number; cost: string }>(
    `SELECT channel, count(*)::int AS n, count(DISTINCT customer_id)::int AS recipients, sum(cost)::text AS cost
       FROM messages WHERE workspace_id = $1 AND sent_at IS NOT NULL GROUP BY channel`,
    [ws],
  );
  const atEnd = await customersBy(client, ws, [span.end]);
  const customersAtEnd = atEnd[0] ?? 0;
  const weeksLong = (span.end.getTime() - span.start.getTime()) / WEEK_MS;
  const channelRows = channels.map((channel): ChannelRow => {
    const r = byChannel.rows.find((x) => x.channel === channel);
    const sent = r?.n ?? 0;
    return {
      channel,
      sent,
      recipients: r?.recipients ?? 0,
      perCustomerPerWeek: customersAtEnd > 0 && weeksLong > 0 ? round(sent / customersAtEnd / weeksLong) : 0,
      cost: round(Number(r?.cost ?? 0)),
    };
  });
  const sent = channelRows.reduce((s, c) => s + c.sent, 0);
  const capped = await caps(client, ws);
  return {
    customers: { atStart: span.customersAtStart, atEnd: customersAtEnd },
    messages: { planned: fates.rows.reduce((s, r) => s + r.n, 0), sent, byFate },
    weeks: await weeks(client, ws, channels, span),
    channels: channelRows,
    suppressions: await reasons(client, ws, "suppressed"),
    deferrals,
    failures: await reasons(client, ws, "failed"),
    cost: {
      total: round(channelRows.reduce((s, c) => s + c.cost, 0)),
      currency: strategy.currency,
      byChannel: Object.fromEntries(channelRows.map((c) => [c.channel, c.cost])),
    },
    caps: capped,
    scenarios: await scenarios(client, ws, strategy),
  };
}

async function customersBy(client: Queryable, ws: number, ends: Date[]): Promise<number[]> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT (SELECT count(*)::int FROM customers
              WHERE workspace_id = $1 AND coalesce(first_seen_at, created_at) <= w.at) AS n
       FROM unnest($2::timestamptz[]) WITH ORDINALITY AS w(at, i) ORDER BY w.i`,
    [ws, ends],
  );
  return rows.map((r) => r.n);
}

async function weeks(
  client: Queryable,
  ws: number,
  channels: string[],
  span: { start: Date; end: Date },
): Promise<WeekRow[]> {
  const startMs = span.start.getTime();
  const endMs = span.end.getTime();
  const bounds: { from: Date; to: Date }[] = [];
  for (let t = startMs; t < endMs; t += WEEK_MS)
    bounds.push({ from: new Date(t), to: new Date(Math.min(t + WEEK_MS, endMs)) });
  const known = await customersBy(
    client,
    ws,
    bounds.map((b) => b.to),
  );
  const week = "floor(extract(epoch FROM (sent_at - $2::timestamptz)) / 604800)::int";
  const sent = await client.query<{ week: number; channel: string; n: number }>(
    `SELECT ${week} AS week, channel, count(*)::int AS n FROM messages
      WHERE workspace_id = $1 AND sent_at IS NOT NULL GROUP BY 1, 2`,
    [ws, span.start],
  );
  const people = await client.query<{ week: number; recipients: number; most: number }>(
    `SELECT week, count(*)::int AS recipients, max(n)::int AS most FROM (
       SELECT ${week} AS week, customer_id, count(*) AS n FROM messages
        WHERE workspace_id = $1 AND sent_at IS NOT NULL GROUP BY 1, 2) x GROUP BY week`,
    [ws, span.start],
  );
  return bounds.map((b, i): WeekRow => {
    const customers = known[i] ?? 0;
    const byChannel = Object.fromEntries(
      channels.map((c) => [c, sent.rows.find((r) => r.week === i && r.channel === c)?.n ?? 0]),
    );
    const all = Object.values(byChannel).reduce((s, n) => s + n, 0);
    const per = (n: number) => (customers > 0 ? round(n / customers) : 0);
    const p = people.rows.find((r) => r.week === i);
    return {
      week: i + 1,
      from: b.from.toISOString(),
      to: b.to.toISOString(),
      days: round((b.to.getTime() - b.from.getTime()) / DAY_MS, 2),
      customers,
      recipients: p?.recipients ?? 0,
      sent: byChannel,
      perCustomer: { ...Object.fromEntries(channels.map((c) => [c, per(byChannel[c] ?? 0)])), all: per(all) },
      maxPerCustomer: p?.most ?? 0,
    };
  });
}

async function reasons(client: Queryable, ws: number, fate: string): Promise<ReasonCount[]> {
  const { rows } = await client.query<{ reason: string | null; n: number }>(
    "SELECT reason, count(*)::int AS n FROM messages WHERE workspace_id = $1 AND fate = $2 GROUP BY reason",
    [ws, fate],
  );
  return sortReasons(rows.map((r) => ({ reason: r.reason ?? "unknown", count: r.n })));
}

async function caps(client: Queryable, ws: number): Promise<SimulationFigures["caps"]> {
  const { rows } = await client.query<{
    customer_id: string;
    user_id: string | null;
    capped: number;
    sent: number;
  }>(
    `SELECT m.customer_id, c.user_id,
            count(*) FILTER (WHERE m.fate = 'suppressed' AND m.reason = 'frequency_capped')::int AS capped,
            count(*) FILTER (WHERE m.sent_at IS NOT NULL)::int AS sent
       FROM messages m LEFT JOIN customers c ON c.workspace_id = m.workspace_id AND c.customer_id = m.customer_id
      WHERE m.workspace_id = $1
      GROUP BY m.customer_id, c.user_id
     HAVING count(*) FILTER (WHERE m.fate = 'suppressed' AND m.reason = 'frequency_capped') > 0
      ORDER BY capped DESC, sent DESC, m.customer_id`,
    [ws],
  );
  return {
    customers: rows.length,
    suppressions: rows.reduce((s, r) => s + r.capped, 0),
    top: rows
      .slice(0, TOP)
      .map((r) => ({ customerId: r.customer_id, userId: r.user_id, capped: r.capped, sent: r.sent })),
  };
}

async function scenarios(client: Queryable, ws: number, strategy: Strategy): Promise<ScenarioRow[]> {
  const entries = await client.query<{ scenario: string; state: string; n: number }>(
    "SELECT scenario, state, count(*)::int AS n FROM scenario_entries WHERE workspace_id = $1 GROUP BY 1, 2",
    [ws],
  );
  const messages = await client.query<{ scenario: string; sent: number; suppressed: number }>(
    `SELECT scenario, count(*) FILTER (WHERE sent_at IS NOT NULL)::int AS sent,
            count(*) FILTER (WHERE fate = 'suppressed')::int AS suppressed
       FROM messages WHERE workspace_id = $1 GROUP BY scenario`,
    [ws],
  );
  return Object.keys(strategy.scenarios).map((scenario): ScenarioRow => {
    const state = (s: string) => entries.rows.find((r) => r.scenario === scenario && r.state === s)?.n ?? 0;
    const m = messages.rows.find((r) => r.scenario === scenario);
    return {
      scenario,
      entries: entries.rows.filter((r) => r.scenario === scenario).reduce((s, r) => s + r.n, 0),
      active: state("active"),
      completed: state("completed"),
      exited: state("exited"),
      goalReached: state("goal_reached"),
      failed: state("failed"),
      sent: m?.sent ?? 0,
      suppressed: m?.suppressed ?? 0,
    };
  });
}
