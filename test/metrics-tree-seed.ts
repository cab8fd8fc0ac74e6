// A small workspace with known figures for the metrics tree tests: customers with contact points and consents,
// orders and a refund around the edges of October 2026, unsubscribes, messages with every fate, scenario entries
// with goal events, and a stage history. The expected figures are worked out by hand in metrics-tree.test.ts.
import type { Db } from "../src/store/db.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { insertStrategyVersion } from "../src/store/strategies.ts";

export const PERIOD = { from: new Date("2026-10-01T00:00:00Z"), to: new Date("2026-11-01T00:00:00Z") };
export const NOW = new Date("2026-11-10T00:00:00Z");

export const STRATEGY = `version: 1
name: Metrics school
timezone: Europe/Berlin
currency: EUR
goals:
  first_lesson: { event: course_started, window: 14d, target: 10%, where: "properties.course == 'python'" }
  win_back: { event: order_completed, window: 30d, target: 60 }
  partner_joined: { event: partner_joined, window: 30d, target: 5% }
channels:
  email: { provider: smtp, from: "School <s@example.com>", cost: 0.05 }
  sms: { provider: smpp, sender: SCHOOL, cost: 3.5 }
rules:
  consent: opt_in
stages:
  buyer: "orders >= 1"
  lead: "reachable"
  visitor: "true"
scenarios:
  welcome:
    goal: first_lesson
    trigger: { event: signed_up }
    steps:
      - send: hello
        via: [email]
  winback:
    goal: win_back
    trigger: { event: came_back }
    steps:
      - send: hello
        via: [sms]
templates:
  hello:
    email: { subject: "Hello", html: "<p>Hi</p>" }
    sms: { text: "Hi" }
`;

const at = (s: string) => new Date(s);

/** Seeds workspace `ws` (and a little noise into `other`, which must not show). */
export async function seedMetrics(db: Db, ws: number, other: number): Promise<void> {
  await insertStrategyVersion(
    db.pool,
    ws,
    { name: "Metrics school", source: STRATEGY, document: {}, appliedBy: "test", inboxEvents: [] },
    at("2026-09-01T00:00:00Z"),
  );
  const optIn = (...chs: string[]) =>
    JSON.stringify(
      Object.fromEntries(chs.map((c) => [c, { state: "opted_in", at: "2026-09-01T00:00:00Z" }])),
    );
  const customers: [number, string | null, string | null, string | null, string, string][] = [
    // id, user_id, email, phone, consents, first seen
    [1, "u1", "c1@example.com", null, optIn("email"), "2026-09-01"],
    [2, null, "c2@example.com", "+491700000002", optIn("email", "sms"), "2026-09-01"],
    [
      3,
      null,
      null,
      "+491700000003",
      JSON.stringify({ sms: { state: "unsubscribed", at: "2026-10-05" } }),
      "2026-09-01",
    ],
    [4, null, null, null, "{}", "2026-08-01"],
    [5, "u5", null, null, "{}", "2026-09-01"],
    // a consent state that is no string (an array holding one) is unknown: not opted in, not unsubscribed
    [6, null, "c6@example.com", null, JSON.stringify({ email: { state: ["opted_in"] } }), "2026-09-01"],
    [7, null, "c7@example.com", null, optIn("email"), "2026-10-15"],
    [8, "u8", "c8@example.com", null, optIn("email"), "2026-11-05"],
  ];
  for (const [id, user, email, phone, consents, seen] of customers) {
    await db.pool.query(
      `INSERT INTO customers (workspace_id, customer_id, user_id, email, phone, consents, first_seen_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)`,
      [ws, id, user, email, phone, consents, at(`${seen}T00:00:00Z`)],
    );
  }
  await db.pool.query(
    `INSERT INTO customers (workspace_id, customer_id, email, consents, first_seen_at)
     VALUES ($1, 100, 'x@example.com', $2::jsonb, '2026-09-01')`,
    [other, optIn("email")],
  );

  const events: [number, number, string, string, Record<string, unknown>][] = [
    [ws, 1, "order_completed", "2026-10-03T10:00:00Z", { revenue: 100 }],
    [ws, 1, "order_completed", "2026-10-20T10:00:00Z", { revenue: 50 }],
    [ws, 1, "order_completed", "2026-09-30T23:59:00Z", { revenue: 999 }],
    [ws, 1, "order_completed", "2026-11-01T00:00:00Z", { revenue: 999 }],
    [ws, 2, "order_completed", "2026-10-10T10:00:00Z", { revenue: "200" }],
    [ws, 3, "order_completed", "2026-10-12T10:00:00Z", { total: 30 }],
    [ws, 3, "order_refunded", "2026-10-25T10:00:00Z", { revenue: 50 }],
    [ws, 7, "Order Completed", "2026-10-31T23:00:00Z", { revenue: 70 }],
    [ws, 3, "unsubscribed", "2026-10-05T10:00:00Z", { channel: "sms" }],
    [ws, 8, "unsubscribed", "2026-10-09T10:00:00Z", { channel: "email" }],
    [ws, 6, "unsubscribed", "2026-09-09T10:00:00Z", { channel: "email" }],
    [ws, 1, "page_viewed", "2026-10-09T10:00:00Z", { revenue: 5000 }],
    // touches for attribution: an email click the day before c1's first order, an SMS delivered 2 h before c2's
    [
      ws,
      1,
      "message_clicked",
      "2026-10-02T10:00:00Z",
      { channel: "email", message_id: "901", scenario: "welcome", step_id: "0", template: "hello" },
    ],
    [
      ws,
      2,
      "message_delivered",
      "2026-10-10T08:00:00Z",
      { channel: "sms", message_id: "902", scenario: "winback", step_id: "0", template: "hello" },
    ],
    // NPS: two promoters, a passive, a detractor in October; one answer in September
    [ws, 1, "nps_response", "2026-10-25T10:00:00Z", { score: 10 }],
    [ws, 2, "nps_response", "2026-10-25T10:00:00Z", { score: 9 }],
    [ws, 5, "nps_response", "2026-10-25T10:00:00Z", { score: 7 }],
    [ws, 6, "nps_response", "2026-10-25T10:00:00Z", { score: 3 }],
    [ws, 6, "nps_response", "2026-09-25T10:00:00Z", { score: 0 }],
    [other, 100, "order_completed", "2026-10-10T10:00:00Z", { revenue: 12345 }],
    [other, 100, "unsubscribed", "2026-10-10T10:00:00Z", { channel: "email" }],
  ];
  // welcome: 40 entries on Oct 2 (customers 1001–1040), 5 reach the python goal in the window, one a course
  // of another kind, one too late; 4 in the control arm and 4 in the global control group (one of each converts:
  // left out); 2 entries on Oct 30 still pending.
  for (let i = 1; i <= 5; i++)
    events.push([ws, 1000 + i, "course_started", "2026-10-05T10:00:00Z", { course: "python" }]);
  events.push([ws, 1006, "course_started", "2026-10-05T10:00:00Z", { course: "sql" }]);
  events.push([ws, 1007, "course_started", "2026-10-20T10:00:00Z", { course: "python" }]);
  events.push([ws, 1041, "course_started", "2026-10-05T10:00:00Z", { course: "python" }]);
  events.push([ws, 1201, "course_started", "2026-10-05T10:00:00Z", { course: "python" }]);
  await ensureEventPartitions(
    db,
    events.map((e) => at(e[3])),
  );
  await db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     SELECT w, c, 'm' || ord, 'track', n, o, o, p
       FROM json_to_recordset($1::json) AS d(w int, c bigint, n text, o timestamptz, p jsonb, ord int)`,
    [JSON.stringify(events.map(([w, c, n, o, p], ord) => ({ w, c, n, o, p, ord })))],
  );

  await db.pool.query(
    `INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, state, variant, updated_at)
     SELECT $1::integer, 1000 + g, 'welcome', 1, '2026-10-02T00:00:00Z'::timestamptz, 'completed',
            CASE WHEN g > 40 THEN 'control' END, now()
       FROM generate_series(1, 44) g
     UNION ALL
     SELECT $1::integer, 1100 + g, 'welcome', 1, '2026-10-30T00:00:00Z', 'active', NULL, now() FROM generate_series(1, 2) g
     UNION ALL
     SELECT $1::integer, c, 'winback', 1, '2026-10-01T00:00:00Z', 'completed', NULL, now() FROM unnest(ARRAY[1, 2, 3]) c
     UNION ALL
     SELECT $1::integer, 1, 'welcome', 1, '2026-09-15T00:00:00Z', 'completed', NULL, now()`,
    [ws],
  );
  // four welcome entrants held out by the global control group (one reaches the goal); the rest were not
  await db.pool.query("UPDATE scenario_entries SET global_control = false WHERE workspace_id = $1", [ws]);
  await db.pool.query(
    `INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, state, global_control, updated_at)
     SELECT $1, 1200 + g, 'welcome', 1, '2026-10-02T00:00:00Z', 'completed', true, now() FROM generate_series(1, 4) g`,
    [ws],
  );

  const messages: [string, string, string, string | null, number][] = [
    // scenario, channel, fate, sent_at, recorded cost
    ["welcome", "email", "sent", "2026-10-02T09:00:00Z", 0.05],
    ["welcome", "email", "delivered", "2026-10-02T09:00:00Z", 0.05],
    ["welcome", "email", "opened", "2026-10-02T09:00:00Z", 0.05],
    ["welcome", "email", "clicked", "2026-10-02T09:00:00Z", 0.05],
    ["welcome", "email", "bounced", "2026-10-02T09:00:00Z", 0.05],
    ["welcome", "email", "suppressed", null, 0],
    ["welcome", "email", "sent", "2026-09-20T09:00:00Z", 0.05],
    ["winback", "sms", "sent", "2026-10-01T09:00:00Z", 3.5],
    ["winback", "sms", "delivered", "2026-10-01T09:00:00Z", 3.5],
    ["winback", "push", "sent", "2026-10-01T09:00:00Z", 0.2],
  ];
  await db.pool.query(
    `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, channel, template, fate, planned_at,
                           sent_at, cost, updated_at)
     SELECT $1, 1, s, ord, '0', ch, 'hello', f, '2026-09-01', t, c, now()
       FROM json_to_recordset($2::json) AS d(s text, ch text, f text, t timestamptz, c numeric, ord int)`,
    [ws, JSON.stringify(messages.map(([s, ch, f, t, c], ord) => ({ s, ch, f, t, c, ord })))],
  );

  const stays: [number, string, string, string | null][] = [
    [1, "visitor", "2026-09-01", "2026-10-03"],
    [1, "buyer", "2026-10-03", null],
    [2, "lead", "2026-09-05", "2026-10-10"],
    [2, "buyer", "2026-10-10", null],
    [3, "visitor", "2026-09-01", "2026-10-12"],
    [3, "buyer", "2026-10-12", "2026-11-03"],
    [3, "lead", "2026-11-03", null],
    [4, "prospect", "2026-07-01", "2026-08-01"],
    [4, "visitor", "2026-08-01", null],
    [5, "visitor", "2026-09-01", null],
    [6, "lead", "2026-09-01", "2026-09-20"],
    [6, "visitor", "2026-09-20", null],
    [7, "lead", "2026-10-15", null],
  ];
  await db.pool.query(
    `INSERT INTO memberships (workspace_id, customer_id, kind, name, entered_at, left_at)
     SELECT $1, c, 'stage', n, e, l FROM json_to_recordset($2::json) AS d(c bigint, n text, e timestamptz, l timestamptz)`,
    [ws, JSON.stringify(stays.map(([c, n, e, l]) => ({ c, n, e, l })))],
  );
  await db.pool.query(
    `INSERT INTO memberships (workspace_id, customer_id, kind, name, entered_at)
     VALUES ($1, 100, 'stage', 'buyer', '2026-10-10')`,
    [other],
  );
}
