// The law of the condition language: the SQL compiled by compileSelection and the in-memory evaluator give the
// same answer for every customer, for random conditions over the whole grammar, random customers and events, at
// several moments; and the next-change times of both are never late.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import {
  type ConditionEnv,
  type CustomerFacts,
  type Expr,
  evaluate,
  evaluateStage,
  nextChange,
  parseCondition,
  type Subject,
  type SubjectEvent,
} from "../src/core/condition/index.ts";
import { compileSelection } from "../src/store/condition-sql.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { type TestDb, testDb } from "./helpers.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2025-01-01T00:00:00Z");
const NOWS = [T0 + 20 * DAY, T0 + 45.5 * DAY, T0 + 75 * DAY + 3_600_000];
const ENTRY = new Date(T0 + 30 * DAY);

let t: TestDb;
let ws = 0;
before(async () => {
  t = await testDb();
  const { rows } = await t.db.pool.query<{ workspace_id: number }>(
    "INSERT INTO workspaces (name, salt) VALUES ('agreement', 's') RETURNING workspace_id",
  );
  ws = rows[0]?.workspace_id ?? 0;
  const months = [];
  for (let m = -2; m <= 4; m++) months.push(new Date(Date.UTC(2025, m, 15)));
  await ensureEventPartitions(t.db, months);
});
after(async () => {
  await t?.close();
});

// ---- values ----
const NUMBERS = [-1, 0, 0.1, 0.2, 0.3, 1, 2, 2.5, 3, 10, 45, 100, 1e-7];
const STRINGS = ["", "a", "A", "ab", "b", "é", "😀", "\uE000", "Moscow", "O'Neil", "@gmail.", "x@gmail.com"];
const num = fc.constantFrom(...NUMBERS);
const str = fc.constantFrom(...STRINGS);
const jsonScalar = fc.oneof(num, str, fc.boolean(), fc.constant(null));
const json = fc.oneof(jsonScalar, fc.constant({ b: 1 }), fc.constant([1, "a"]), fc.record({ b: jsonScalar }));
const time = fc.integer({ min: -40, max: 90 }).map((d) => new Date(T0 + d * DAY + (d % 3) * 3_600_000));
const CHANNELS = { email: "email", sms: "phone", tg: "telegram", push: "push", call: "none" } as const;

const quote = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
const lit = fc.oneof(
  num.map(String),
  str.map(quote),
  fc.constantFrom("true", "false"),
  time.map((d) => quote(d.toISOString())),
);
const cmp = fc.constantFrom("==", "!=", "<", "<=", ">", ">=");
const strOp = fc.constantFrom("contains", "starts_with", "ends_with");
const path = fc.constantFrom("a", "b", "a.b", "total", "section");
/** true and false are only compared with == and != (the parser refuses an ordering) */
const comparison = (v: string, o: string, l: string) =>
  (l === "true" || l === "false") && o !== "==" && o !== "!=" ? `${v} == ${l}` : `${v} ${o} ${l}`;

// ---- conditions ----
const windowArb = fc.constantFrom("", ", 1h", ", 12h", ", 1d", ", 7d", ", 30d", ", 2w", ", since_entry");
const selector = fc.constantFrom("page", "identify", "order_completed", "'Order Completed'", "signup");
const propAtom = fc.oneof(
  fc.tuple(path, cmp, lit).map(([p, o, l]) => comparison(`properties.${p}`, o, l)),
  path.map((p) => `properties.${p} exists`),
  fc.tuple(path, strOp, str).map(([p, o, s]) => `properties.${p} ${o} ${quote(s)}`),
);
const filter = fc.option(
  fc.oneof(
    propAtom,
    fc.tuple(propAtom, propAtom).map(([a, b]) => `(${a} or not ${b})`),
  ),
  { nil: undefined },
);
const aggregate = fc
  .tuple(fc.constantFrom("count", "sum", "avg", "min", "max", "last"), selector, path, filter, windowArb)
  .map(
    ([fn, sel, p, f, w]) =>
      `${fn}(${sel}${fn === "count" ? "" : `.properties.${p}`}${f ? ` where ${f}` : ""}${w})`,
  );
const numberValue = fc.oneof(
  fc.constantFrom(
    "orders",
    "revenue",
    "aov",
    "days_since_last_order",
    "days_since_first_order",
    "days_since_last_seen",
    "days_since_first_seen",
    "p_alive",
    "clv_percentile",
    "rfm_r",
    // the last NPS score: the newest nps_response's score
    "nps",
  ),
  aggregate,
);
const value = fc.oneof(
  numberValue,
  fc.constantFrom(
    "email",
    "phone",
    "telegram_chat_id",
    "user_id",
    "locale",
    "preferred_channel",
    "rfm_group",
  ),
  fc.constantFrom("first_order_at", "last_order_at", "first_seen_at", "last_seen_at"),
  path.map((p) => `traits.${p}`),
  fc.constantFrom("consent.email", "consent.sms", "consent.tg"),
);
const daysNumber = fc.oneof(num, fc.integer({ min: -5, max: 80 }), fc.constantFrom(19.5, 44.5, 45));

function atom(stage: boolean, segments: boolean): fc.Arbitrary<string> {
  const parts: fc.Arbitrary<string>[] = [
    fc.tuple(value, cmp, lit).map(([v, o, l]) => comparison(v, o, l)),
    fc.tuple(numberValue, cmp, daysNumber).map(([v, o, n]) => `${v} ${o} ${n}`),
    fc.tuple(fc.constantFrom("orders", "revenue", "aov"), cmp, num).map(([v, o, n]) => `${v} ${o} ${n}`),
    fc
      .tuple(fc.constantFrom("last", "sum", "max"), selector, path, windowArb, cmp, lit)
      .map(([fn, sel, p, w, o, l]) => comparison(`${fn}(${sel}.properties.${p}${w})`, o, l)),
    fc.tuple(value, strOp, str).map(([v, o, s]) => `${v} ${o} ${quote(s)}`),
    fc
      .tuple(value, fc.array(lit, { maxLength: 3 }), fc.boolean())
      .map(([v, items, neg]) => `${v}${neg ? " not" : ""} in [${items.join(", ")}]`),
    fc.tuple(value, fc.boolean()).map(([v, neg]) => `${v}${neg ? " not" : ""} exists`),
    fc.constantFrom(
      "reachable",
      "reachable.email",
      "reachable.sms",
      "reachable.tg",
      "reachable.push",
      "reachable.call",
    ),
    fc.constantFrom("consent.email == 'opted_in'", "consent.sms != 'unsubscribed'", "true", "false"),
    path.map((p) => `traits.${p}`),
    fc
      .tuple(fc.constantFrom("sum", "avg", "last"), selector, path, windowArb)
      .map(([fn, sel, p, w]) => `${fn}(${sel}.properties.${p}${w}) exists`),
  ];
  if (segments) parts.push(fc.constantFrom("segment('s0')", "segment('s1')", "segment('nope')"));
  if (stage)
    parts.push(fc.constantFrom("stage == 'st0'", "stage in ['st1', 'st2']", "stage exists", "stage < 'st1'"));
  return fc.oneof(...parts);
}

function condition(stage: boolean, segments: boolean): fc.Arbitrary<string> {
  const leaf = atom(stage, segments);
  const { tree } = fc.letrec<{ tree: string }>((tie) => ({
    tree: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.tuple(tie("tree"), fc.constantFrom("and", "or"), tie("tree")).map(([a, o, b]) => `(${a} ${o} ${b})`),
      tie("tree").map((a) => `not ${a}`),
    ),
  }));
  return tree;
}

function parse(src: string): Expr {
  const r = parseCondition(src);
  if (!r.ok) throw new Error(`generated condition does not parse: ${src}: ${JSON.stringify(r.errors)}`);
  return r.ast;
}

// ---- customers ----
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
const consent = fc.constantFrom(undefined, "opted_in", "unsubscribed", "maybe");
const customer = fc.record({
  email: maybe(fc.constantFrom("", "x@gmail.com", "y@mail.ru", "A")),
  phone: maybe(fc.constantFrom("+79990000000", "")),
  telegram_chat_id: maybe(fc.constantFrom("123")),
  user_id: maybe(str),
  locale: maybe(str),
  preferred_channel: maybe(fc.constantFrom("email", "sms")),
  traits: fc.dictionary(fc.constantFrom("a", "b", "total", "section"), json, { maxKeys: 3 }),
  consents: fc.record({ email: consent, sms: consent, tg: consent, call: consent }),
  orders: fc.integer({ min: 0, max: 3 }),
  revenue: num,
  first_order_at: maybe(time),
  last_order_at: maybe(time),
  first_seen_at: maybe(time),
  last_seen_at: maybe(time),
  // the customer_value row of a fit, or none
  value: maybe(
    fc.record({
      p_alive: maybe(fc.constantFrom(0, 0.05, 0.3, 0.2999, 0.9, 1)),
      clv_percentile: maybe(fc.constantFrom(0, 45, 89.5, 90, 100)),
      rfm_r: maybe(fc.integer({ min: 1, max: 5 })),
      rfm_group: maybe(fc.constantFrom("champions", "at_risk", "")),
    }),
  ),
});
const event = fc.record({
  kind: fc.constantFrom(
    ["page", null],
    ["identify", null],
    ["track", "order_completed"],
    ["track", "Order Completed"],
    ["track", "signup"],
    ["page", "order_completed"],
    ["track", "nps_response"],
  ),
  // few distinct moments, so equal times (ties for `last`) and window edges are common
  day: fc.constantFrom(-30, -1, 10, 19, 25, 30, 44, 45, 60, 74, 75),
  hour: fc.constantFrom(0, 1, 12),
  id: fc.constantFrom("m1", "m2", "M3", "é4", "😀"),
  properties: fc.dictionary(fc.constantFrom("a", "b", "total", "section", "score"), json, { maxKeys: 3 }),
});

type GenCustomer = typeof customer extends fc.Arbitrary<infer C> ? C : never;

function facts(id: number, c: GenCustomer): CustomerFacts {
  const consents: Record<string, { state: string }> = {};
  for (const [ch, s] of Object.entries(c.consents)) if (s) consents[ch] = { state: s };
  const value = c.value
    ? { clv: null, expected_purchases: null, expected_value: null, rfm_f: null, rfm_m: null, ...c.value }
    : null;
  return { ...c, customer_id: String(id), timezone: null, consents, value };
}

async function load(customers: Subject[]): Promise<void> {
  await t.db.pool.query("DELETE FROM events WHERE workspace_id = $1", [ws]);
  await t.db.pool.query("DELETE FROM customers WHERE workspace_id = $1", [ws]);
  await t.db.pool.query("DELETE FROM customer_value WHERE workspace_id = $1", [ws]);
  const values = customers.flatMap((s) =>
    s.customer.value ? [{ customer_id: s.customer.customer_id, ...s.customer.value }] : [],
  );
  await t.db.pool.query(
    `INSERT INTO customer_value (workspace_id, customer_id, model_id, fitted_at, frequency, recency_weeks, age_weeks,
       monetary, p_alive, clv_percentile, rfm_r, rfm_group)
     SELECT $1, customer_id::bigint, 0, now(), 0, 0, 0, 0, p_alive, clv_percentile, rfm_r, rfm_group
     FROM jsonb_to_recordset($2::jsonb) AS r(customer_id text, p_alive float8, clv_percentile float8, rfm_r smallint,
       rfm_group text)`,
    [ws, JSON.stringify(values)],
  );
  const rows = customers.map((s) => ({ ...s.customer, revenue: String(s.customer.revenue) }));
  await t.db.pool.query(
    `INSERT INTO customers (workspace_id, customer_id, user_id, email, phone, telegram_chat_id, traits, locale, consents,
       preferred_channel, orders, revenue, first_order_at, last_order_at, first_seen_at, last_seen_at)
     SELECT $1, customer_id::bigint, user_id, email, phone, telegram_chat_id, traits, locale, consents, preferred_channel,
       orders, revenue::numeric, first_order_at, last_order_at, first_seen_at, last_seen_at
     FROM jsonb_to_recordset($2::jsonb) AS r(customer_id text, user_id text, email text, phone text, telegram_chat_id text,
       traits jsonb, locale text, consents jsonb, preferred_channel text, orders int, revenue text,
       first_order_at timestamptz, last_order_at timestamptz, first_seen_at timestamptz, last_seen_at timestamptz)`,
    [ws, JSON.stringify(rows)],
  );
  const events = customers.flatMap((s) =>
    s.events.map((e) => ({ ...e, customer_id: s.customer.customer_id })),
  );
  await t.db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     SELECT $1, customer_id::bigint, message_id, type, name, occurred_at, occurred_at, properties
     FROM jsonb_to_recordset($2::jsonb) AS r(customer_id text, message_id text, type text, name text,
       occurred_at timestamptz, properties jsonb)`,
    [ws, JSON.stringify(events)],
  );
}

const scenario = fc.record({
  segments: fc.tuple(condition(false, false), condition(false, false)),
  stages: fc.array(condition(false, true), { minLength: 1, maxLength: 3 }),
  conditions: fc.array(condition(true, true), { minLength: 4, maxLength: 4 }),
  customers: fc.array(fc.tuple(customer, fc.array(event, { maxLength: 10 })), {
    minLength: 30,
    maxLength: 30,
  }),
});

test("SQL and in-memory evaluation agree; next-change times are never late", async () => {
  let compared = 0;
  let held = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async (sc) => {
      const env: ConditionEnv = {
        channels: CHANNELS,
        segments: new Map(sc.segments.map((s, i) => [`s${i}`, parse(s)])),
        stages: sc.stages.map((s, i) => [`st${i}`, parse(s)] as const),
        allowSinceEntry: true,
      };
      const conditions = sc.conditions.map(parse);
      const subjects: Subject[] = sc.customers.map(([c, evs], i) => ({
        customer: facts(i + 1, c),
        entryAt: ENTRY,
        events: evs.map(
          (e, j): SubjectEvent => ({
            type: e.kind[0] ?? "track",
            name: e.kind[1] ?? null,
            occurred_at: new Date(T0 + e.day * DAY + e.hour * 3_600_000),
            message_id: `${e.id}-${j % 3}`,
            properties: e.properties,
          }),
        ),
      }));
      // message ids are unique per customer (the store dedupes them); equal times keep ties between events
      for (const s of subjects) {
        const seen = new Set<string>();
        (s.events as SubjectEvent[]).splice(
          0,
          s.events.length,
          ...s.events.filter((e) => !seen.has(e.message_id) && seen.add(e.message_id)),
        );
      }
      await load(subjects);
      for (const nowMs of NOWS) {
        const now = new Date(nowMs);
        const q = compileSelection({
          workspaceId: ws,
          now,
          env,
          conditions,
          withStage: true,
          withNextChange: true,
          entryAt: ENTRY,
        });
        const { rows } = await t.db.pool.query(q.text, q.values);
        assert.equal(rows.length, subjects.length);
        for (const row of rows) {
          const s = subjects.find((x) => x.customer.customer_id === row.customer_id);
          assert.ok(s, `customer ${row.customer_id} comes back`);
          conditions.forEach((c, i) => {
            assert.equal(
              row[`c${i}`],
              evaluate(c, s, now, env),
              `${sc.conditions[i]} for ${row.customer_id} at ${now.toISOString()}`,
            );
            compared++;
            if (row[`c${i}`]) held++;
          });
          assert.equal(row.stage, evaluateStage(s, now, env), `stage of ${row.customer_id}`);
          checkNotLate(conditions, sc.conditions, s, now, env, row.next_change);
        }
      }
    }),
    { numRuns: 35, endOnFailure: true, includeErrorInReport: true },
  );
  assert.ok(compared >= 35 * 4 * 30 * NOWS.length, "every condition was compared for every customer");
  // the generated conditions are neither always true nor always false, so the agreement says something
  assert.ok(held > compared * 0.1 && held < compared * 0.9, `${held} of ${compared} answers were true`);
});

function checkNotLate(
  conditions: Expr[],
  sources: string[],
  s: Subject,
  now: Date,
  env: ConditionEnv,
  sqlNext: Date | null,
): void {
  const answers = (at: Date) => [
    ...conditions.map((c) => evaluate(c, s, at, env)),
    evaluateStage(s, at, env),
  ];
  const current = answers(now);
  conditions.forEach((c, i) => {
    const next = nextChange(c, s, now, env);
    if (next === null) {
      const later = new Date(now.getTime() + 400 * DAY);
      assert.equal(evaluate(c, s, later, env), current[i], `${sources[i]} changes with no next change`);
      return;
    }
    assert.ok(next.getTime() > now.getTime(), `next change of ${sources[i]} is after now`);
    for (const at of [next.getTime() - 1, (now.getTime() + next.getTime()) / 2]) {
      assert.equal(evaluate(c, s, new Date(at), env), current[i], `next change of ${sources[i]} is late`);
    }
  });
  if (sqlNext !== null) {
    assert.ok(sqlNext instanceof Date && sqlNext.getTime() > now.getTime(), "SQL next change is after now");
    assert.deepEqual(answers(new Date(sqlNext.getTime() - 1)), current, "SQL next change is late");
  }
}
