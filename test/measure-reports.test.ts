// The NPS and attribution reports against hand-computed figures, on the real database: answers by stage, segment,
// scenario, week and month with their intervals; attributed revenue by message, scenario and channel under every
// model, with windows per channel, refunds credited back to their order's touches and unattributed revenue apart.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { attributionReport, attributionWindows } from "../src/measure/attribution-report.ts";
import { npsReport } from "../src/measure/nps-report.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { loadStrategy } from "../src/strategy/load.ts";
import { type TestDb, type TestWorkspace, testDb, testWorkspace } from "./helpers.ts";

const STRATEGY_WITH = (emailExtra: string) => `version: 1
name: Shop
timezone: Europe/Berlin
currency: EUR
goals:
  purchase: { event: order_completed, window: 14d, target: 5% }
channels:
  email: { provider: smtp, from: "Shop <shop@example.com>", ${emailExtra} }
scenarios: {}
templates: {}
`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let t: TestDb;
let nps: TestWorkspace;
let attr: TestWorkspace;

before(async () => {
  t = await testDb();
  nps = await testWorkspace(t.db);
  attr = await testWorkspace(t.db);
  const months = [1, 2, 3, 4].map((m) => new Date(Date.UTC(2026, m, 10)));
  await ensureEventPartitions(t.db, months);
});
after(async () => {
  await t?.close();
});

let nextId = 0;
async function customer(ws: number): Promise<string> {
  const { rows } = await t.db.pool.query<{ id: string }>(
    "INSERT INTO customers (workspace_id, customer_id) VALUES ($1, nextval('customer_id_seq')) RETURNING customer_id AS id",
    [ws],
  );
  return rows[0]?.id ?? "";
}

async function event(ws: number, c: string, name: string, at: string | number, properties: object) {
  await t.db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     VALUES ($1, $2, $3, 'track', $4, $5, $5, $6::jsonb)`,
    [ws, c, `e${++nextId}`, name, new Date(at), JSON.stringify(properties)],
  );
}

async function membership(ws: number, c: string, kind: string, name: string, from: string, to?: string) {
  await t.db.pool.query(
    `INSERT INTO memberships (workspace_id, customer_id, kind, name, entered_at, left_at) VALUES ($1, $2, $3, $4, $5, $6)`,
    [ws, c, kind, name, new Date(from), to ? new Date(to) : null],
  );
}

test("NPS overall and by scenario, week, month, stage and segment, with counts and 95% intervals", async () => {
  const ws = nps.workspace.id;
  const answers: [number | string, string | null, string, string, string[]][] = [
    [10, "ask", "2026-03-02T10:00Z", "lead", ["vip"]],
    [9, "ask", "2026-03-03T10:00Z", "lead", ["vip"]],
    [9, "ask", "2026-03-10T10:00Z", "repeat", []],
    [8, "ask", "2026-03-10T11:00Z", "repeat", []],
    [7, "other", "2026-03-11T10:00Z", "repeat", []],
    [6, "other", "2026-03-17T10:00Z", "lapsed", ["vip"]],
    [0, null, "2026-03-18T10:00Z", "lapsed", []],
    [5, "ask", "2026-02-20T10:00Z", "lead", []], // before the period
    ["9", "ask", "2026-03-05T10:00Z", "lead", []], // not a number: invalid
    [11, "ask", "2026-03-05T10:00Z", "lead", []], // out of range: invalid
  ];
  for (const [i, [score, scenario, at, stage, segments]] of answers.entries()) {
    const c = await customer(ws);
    const props: Record<string, unknown> = { score, ...(scenario ? { scenario } : {}) };
    if (i === 0) props.comment = "Lovely roses";
    await event(ws, c, "nps_response", at, props);
    // the stage held when answering counts, not the one after
    await membership(ws, c, "stage", stage, "2026-01-01T00:00Z", "2026-03-18T12:00Z");
    await membership(ws, c, "stage", "anchor", "2026-03-18T12:00Z");
    for (const s of segments) await membership(ws, c, "segment", s, "2026-01-01T00:00Z");
    await t.db.pool.query(
      `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, channel, template, fate, planned_at,
                             sent_at, updated_at, survey)
       VALUES ($1, $2, 'ask', $3, '0', 'email', 'nps', 'sent', $4, $4, $4, 'nps'), ($1, $2, 'ask', $3, '1', 'email', 'nps', 'sent', $4, $4, $4, 'nps')`,
      [ws, c, i + 1, new Date("2026-03-01T09:00Z")],
    );
  }
  const period = { from: new Date("2026-03-01T00:00Z"), to: new Date("2026-04-01T00:00Z") };
  const overall = await npsReport(t.db, ws, period);
  // 3 promoters (10, 9, 9), 2 passives (8, 7), 2 detractors (6, 0): NPS = (3 − 2) / 7 = 14.29;
  // SE = 100 √((3/7 + 2/7 − (1/7)²) / 7) = 31.48; 14.29 ± 1.96 × 31.48
  assert.deepEqual(overall.overall, {
    promoters: 3,
    passives: 2,
    detractors: 2,
    responses: 7,
    nps: 14.29,
    ci95: { low: -47.42, high: 75.99 },
    standardError: 31.48,
    comments: 1,
  });
  assert.equal(overall.invalid, 2);
  assert.equal(overall.surveysSent, 20);
  assert.equal(overall.responseRate, 0.35);
  assert.deepEqual(overall.groups, []);

  const key = async (by: "stage" | "segment" | "scenario" | "week" | "month") =>
    (await npsReport(t.db, ws, { ...period, by })).groups.map((g) => [g.key, g.responses, g.nps, g.ci95]);
  assert.deepEqual(await key("scenario"), [
    ["(none)", 1, -100, { low: -100, high: -100 }],
    ["ask", 4, 75, { low: 32.57, high: 100 }],
    ["other", 2, -50, { low: -100, high: 19.3 }],
  ]);
  assert.deepEqual(
    (await key("week")).map(([k, n, v]) => [k, n, v]),
    [
      ["2026-W10", 2, 100],
      ["2026-W11", 3, 33.33],
      ["2026-W12", 2, -100],
    ],
  );
  assert.deepEqual(
    (await key("month")).map(([k, n, v]) => [k, n, v]),
    [["2026-03", 7, 14.29]],
  );
  assert.deepEqual(
    (await key("stage")).map(([k, n, v]) => [k, n, v]),
    [
      ["lapsed", 2, -100],
      ["lead", 2, 100],
      ["repeat", 3, 33.33],
    ],
  );
  // a response counts in every segment the customer was in; (none) for those in none
  assert.deepEqual(await key("segment"), [
    ["(none)", 4, 0, { low: -69.3, high: 69.3 }],
    ["vip", 3, 33.33, { low: -73.35, high: 100 }],
  ]);
  const all = await npsReport(t.db, ws, { to: period.to });
  assert.equal(all.overall.responses, 8, "without from, every answer before to");
  await assert.rejects(npsReport(t.db, ws, { from: period.to, to: period.from }), /from must be before to/);
});

const T = Date.parse("2026-03-10T12:00:00Z");
const touch = (message: string, channel: string, scenario: string, step: string, template: string) => ({
  message_id: message,
  channel,
  scenario,
  step_id: step,
  template,
});

test("attributed revenue by message, scenario and channel for every model, against hand-computed totals", async () => {
  const ws = attr.workspace.id;
  const a = await customer(ws);
  await event(ws, a, "message_opened", T - 6 * DAY, touch("5", "email", "s1", "0", "t1")); // outside 5 days
  await event(ws, a, "message_opened", T - 4 * DAY, touch("1", "email", "s1", "0", "t1"));
  await event(ws, a, "message_clicked", T - 2 * DAY, touch("2", "sms", "s2", "0", "t2"));
  await event(ws, a, "message_clicked", T - DAY, touch("3", "email", "s1", "2", "t3"));
  await event(ws, a, "message_delivered", T - HOUR, touch("4", "email", "s1", "3", "t3")); // no email window
  await event(ws, a, "order_completed", T, { revenue: 100 });
  const b = await customer(ws);
  await event(ws, b, "message_delivered", T - 11 * HOUR, touch("6", "sms", "s2", "1", "t4"));
  await event(ws, b, "order_completed", T, { revenue: "50" });
  await event(ws, b, "order_completed", T + 5 * DAY, { revenue: 30 }); // the delivery is 12 h old: unattributed
  const c = await customer(ws);
  await event(ws, c, "message_clicked", "2026-02-24T12:00Z", touch("7", "email", "s3", "0", "t5"));
  await event(ws, c, "order_completed", "2026-02-25T12:00Z", { revenue: 80, order_id: "o1" }); // before the period
  await event(ws, c, "order_refunded", "2026-03-05T12:00Z", { revenue: 80, order_id: "o1" });
  const d = await customer(ws);
  await event(ws, d, "Order Completed", T, { total: 20 });
  await event(ws, d, "order_completed", "2026-04-02T00:00Z", { revenue: 1000 }); // after the period

  const period = { from: new Date("2026-03-01T00:00Z"), to: new Date("2026-04-01T00:00Z") };
  const run = (model: "last_touch" | "first_touch" | "linear" | "time_decay" | "position_based") =>
    attributionReport(t.db, ws, { ...period, model });
  const last = await run("last_touch");
  assert.match(last.label, /^Attributed revenue/);
  assert.match(last.label, /not what the messages added/);
  assert.deepEqual(last.conversions, {
    count: 5,
    revenue: 120, // 100 + 50 + 30 − 80 + 20
    refunds: 1,
    attributed: { count: 3, revenue: 70 },
    unattributed: { count: 2, revenue: 50 },
  });
  const scenarios = (r: Awaited<ReturnType<typeof run>>) =>
    Object.fromEntries(r.byScenario.map((s) => [s.scenario, s.attributedRevenue]));
  const channels = (r: Awaited<ReturnType<typeof run>>) =>
    Object.fromEntries(r.byChannel.map((s) => [s.channel, s.attributedRevenue]));
  assert.deepEqual(scenarios(last), { s1: 100, s2: 50, s3: -80 });
  assert.deepEqual(channels(last), { email: 20, sms: 50 });
  assert.deepEqual(
    last.byMessage.map((m) => [m.scenario, m.step, m.template, m.attributedRevenue, m.attributedConversions]),
    [
      ["s1", "2", "t3", 100, 1],
      ["s2", "1", "t4", 50, 1],
      ["s3", "0", "t5", -80, 1],
    ],
  );

  assert.deepEqual(scenarios(await run("first_touch")), { s1: 100, s2: 50, s3: -80 });
  const first = await run("first_touch");
  assert.deepEqual(
    first.byMessage.map((m) => [m.step, m.template, m.attributedRevenue]),
    [
      ["0", "t1", 100],
      ["1", "t4", 50],
      ["0", "t5", -80],
    ],
  );
  // linear: 100 split in three among messages 1, 2, 3
  const linear = await run("linear");
  assert.deepEqual(scenarios(linear), { s1: 66.6667, s2: 83.3333, s3: -80 });
  assert.deepEqual(channels(linear), { sms: 83.3333, email: -13.3333 });
  assert.equal(linear.byScenario.find((s) => s.scenario === "s1")?.attributedConversions, 0.6667);
  // time decay: weights 2^(−4/7), 2^(−2/7), 2^(−1/7) for touches 4, 2 and 1 days old
  const w = [2 ** (-4 / 7), 2 ** (-2 / 7), 2 ** (-1 / 7)];
  const sum = (w[0] ?? 0) + (w[1] ?? 0) + (w[2] ?? 0);
  const decay = await run("time_decay");
  const r4 = (x: number) => Math.round(x * 10_000) / 10_000;
  assert.deepEqual(scenarios(decay), {
    s1: r4((100 * ((w[0] ?? 0) + (w[2] ?? 0))) / sum), // 65.81
    s2: r4((100 * (w[1] ?? 0)) / sum + 50), // 84.19
    s3: -80,
  });
  // position-based: 40% first, 20% middle, 40% last
  const position = await run("position_based");
  assert.deepEqual(scenarios(position), { s1: 80, s2: 70, s3: -80 });
  assert.deepEqual(channels(position), { sms: 70, email: 0 });
  for (const r of [last, first, linear, decay, position]) {
    const credited = r.byScenario.reduce((s, x) => s + x.attributedRevenue, 0);
    assert.ok(Math.abs(credited - r.conversions.attributed.revenue) < 1e-3, `${r.model} keeps revenue whole`);
  }
});

test("windows follow each channel's provider kind; bad options are refused", async () => {
  const ws = attr.workspace.id;
  const doc = {
    channels: {
      news: { provider: "smtp", from: "a@b.c" },
      alerts: { provider: "sink", contact: "phone" },
    },
  };
  await t.db.pool.query(
    `INSERT INTO strategy_versions (workspace_id, version, name, source, document, checksum, applied_at, applied_by)
     VALUES ($1, 1, 'x', '', $2::jsonb, 'x', now(), 'test')`,
    [ws, JSON.stringify(doc)],
  );
  const windows = await attributionWindows(t.db, ws);
  assert.equal(windows["news.opened"], 5 * DAY);
  assert.equal(windows["news.clicked"], 5 * DAY);
  assert.equal(windows["news.delivered"], undefined);
  assert.equal(windows["alerts.delivered"], 12 * HOUR);
  assert.equal(
    windows["email.opened"],
    5 * DAY,
    "names the strategy does not use keep their kind's defaults",
  );
  await assert.rejects(
    attributionReport(t.db, ws, { to: new Date(), model: "nearest" as never }),
    /unknown model nearest/,
  );
});

test("a channel's own attribution windows replace its kind's; 0s takes an interaction out; bad ones are refused", async () => {
  const { workspace } = await testWorkspace(t.db);
  const ws = workspace.id;
  const doc = {
    channels: {
      news: {
        provider: "smtp",
        from: "a@b.c",
        attribution_windows: { delivered: "2h", opened: "1d", clicked: "0s" },
      },
    },
  };
  await t.db.pool.query(
    `INSERT INTO strategy_versions (workspace_id, version, name, source, document, checksum, applied_at, applied_by)
     VALUES ($1, 1, 'x', '', $2::jsonb, 'x', now(), 'test')`,
    [ws, JSON.stringify(doc)],
  );
  const windows = await attributionWindows(t.db, ws);
  assert.deepEqual(
    [windows["news.delivered"], windows["news.opened"], windows["news.clicked"]],
    [2 * HOUR, DAY, undefined],
  );
  const T = Date.UTC(2026, 2, 10, 12);
  const touch = (c: string, name: string, at: number, id: string) =>
    event(ws, c, name, at, { message_id: id, channel: "news", scenario: "s", step_id: "0", template: "t" });
  const [near, far, clicked] = [await customer(ws), await customer(ws), await customer(ws)];
  await touch(near, "message_delivered", T - HOUR, "m1"); // inside the channel's 2 h
  await event(ws, near, "order_completed", T, { revenue: 10 });
  await touch(far, "message_opened", T - 2 * DAY, "m2"); // outside its 1 d (the email default would be 5 d)
  await event(ws, far, "order_completed", T, { revenue: 20 });
  await touch(clicked, "message_clicked", T - HOUR, "m3"); // clicks are no touch on this channel
  await event(ws, clicked, "order_completed", T, { revenue: 40 });
  const r = await attributionReport(t.db, ws, { from: new Date(T - 3 * DAY), to: new Date(T + DAY) });
  assert.deepEqual(r.conversions.attributed, { count: 1, revenue: 10 });
  assert.deepEqual(r.conversions.unattributed, { count: 2, revenue: 60 });
  assert.deepEqual(r.windowsHours["news.delivered"], 2);
  const bad = loadStrategy(STRATEGY_WITH("attribution_windows: { opened: 3, viewed: 1d }"), "bad.yaml");
  assert.equal(bad.ok, false);
  const messages = bad.ok ? [] : bad.diagnostics.map((d) => `${d.line}:${d.column} ${d.text}: ${d.message}`);
  assert.deepEqual(messages, [
    "8:92 3: a duration needs a unit: write 3d, 3h or 3m",
    "8:95 viewed: unknown key 'viewed'",
  ]);
});

test("a conversion whose touches span cursor pages is attributed once and whole", async () => {
  const w = await testWorkspace(t.db);
  const ws = w.workspace.id;
  const c = await customer(ws);
  // 6,000 clicks, more than one page of the cursor, then one order
  await t.db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     SELECT $1, $2, 'c' || i, 'track', 'message_clicked', $3::timestamptz - i * interval '1 second',
            $3::timestamptz, jsonb_build_object('message_id', i::text, 'channel', 'email', 'scenario', 's' || (i % 2))
       FROM generate_series(1, 6000) i`,
    [ws, c, new Date(T)],
  );
  await event(ws, c, "order_completed", T, { revenue: 600 });
  const r = await attributionReport(t.db, ws, { to: new Date(T + DAY), model: "linear" });
  assert.deepEqual(r.conversions.attributed, { count: 1, revenue: 600 });
  assert.equal(r.conversions.count, 1);
  assert.deepEqual(
    r.byScenario.map((s) => [s.scenario, s.attributedRevenue, s.attributedConversions]),
    [
      ["s0", 300, 0.5],
      ["s1", 300, 0.5],
    ],
  );
});
