import assert from "node:assert/strict";
import { test } from "node:test";
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
} from "./index.ts";

const DAY = 86_400_000;
const NOW = new Date("2025-03-01T12:00:00Z");
const ago = (days: number) => new Date(NOW.getTime() - days * DAY);

function ast(src: string): Expr {
  const r = parseCondition(src);
  if (!r.ok) assert.fail(`${src}: ${JSON.stringify(r.errors)}`);
  return r.ast;
}

function customer(over: Partial<CustomerFacts> = {}): CustomerFacts {
  return {
    customer_id: "1",
    user_id: "u1",
    email: "anna@gmail.com",
    phone: null,
    telegram_chat_id: null,
    traits: { company: "Acme", city: "Kazan", age: 31, vip: true, address: { zip: "420000" }, nothing: null },
    timezone: "Europe/Moscow",
    locale: "ru",
    consents: { email: { state: "opted_in", at: "2025-01-01T00:00:00Z" }, sms: { state: "unsubscribed" } },
    preferred_channel: "email",
    orders: 2,
    revenue: 300,
    first_order_at: ago(100),
    last_order_at: ago(50),
    first_seen_at: ago(200),
    last_seen_at: ago(1),
    ...over,
  };
}

let seq = 0;
function ev(
  type: string,
  name: string | null,
  daysAgo: number,
  properties: Record<string, unknown> = {},
): SubjectEvent {
  return {
    type,
    name,
    occurred_at: ago(daysAgo),
    message_id: `m${String(seq++).padStart(3, "0")}`,
    properties,
  };
}

const segments = new Map<string, Expr>([
  ["b2b", ast("traits.company exists")],
  ["browsers", ast("count(page where properties.section == 'courses', 30d) >= 2")],
]);
const env: ConditionEnv = {
  channels: { email: "email", sms: "phone", call: "none" },
  segments,
  stages: [
    ["lapsed", ast("orders >= 1 and days_since_last_order > 120")],
    ["at_risk", ast("orders >= 1 and days_since_last_order > 45")],
    ["repeat", ast("orders >= 2")],
    ["lead", ast("reachable")],
  ],
  allowSinceEntry: true,
};

const subject: Subject = {
  customer: customer(),
  entryAt: ago(10),
  events: [
    ev("page", null, 2, { section: "courses" }),
    ev("page", null, 20, { section: "courses" }),
    ev("page", null, 40, { section: "courses" }),
    ev("track", "order_completed", 5, { total: 0.1 }),
    ev("track", "order_completed", 15, { total: 0.2 }),
    ev("track", "order_completed", 60, { total: "n/a" }),
    ev("track", "Order Completed", 3, { total: 500 }),
  ],
};

test("the evaluator answers the documented cases", () => {
  const cases: [string, boolean][] = [
    ["orders >= 1 and days_since_last_order > 45", true],
    ["days_since_last_order == 50 and days_since_last_seen == 1", true],
    ["aov == 150", true],
    ["traits.company exists and traits.missing not exists and not (traits.nothing exists)", true],
    ["traits.address.zip == '420000' and traits.address.zip.more not exists", true],
    ["traits.age > 30 and not (traits.age > '30') and traits.city in ['Moscow', 'Kazan']", true],
    ["traits.vip and not traits.company", true],
    ["not (traits.missing > 3) and not (traits.missing <= 3)", true],
    ["traits.missing != 3", false],
    ["email contains '@gmail.' and email starts_with 'anna' and email ends_with '.com'", true],
    ["phone exists", false],
    ["consent.email == 'opted_in' and consent.sms == 'unsubscribed' and consent.call == 'unknown'", true],
    ["reachable.email and not reachable.sms and reachable.call and reachable", true],
    ["segment('b2b') and segment('browsers')", true],
    ["stage == 'at_risk'", true],
    ["count(page where properties.section == 'courses', 30d) >= 3", false],
    ["count(order_completed, since_entry) == 1 and count(order_completed) == 3", true],
    ["sum(order_completed.properties.total, 30d) == 0.3", true],
    ["avg(order_completed.properties.total) == 0.15", true],
    ["min(order_completed.properties.total) == 0.1 and max(order_completed.properties.total) == 0.2", true],
    ["sum(signup.properties.total) == 0 and avg(signup.properties.total) not exists", true],
    ["last(order_completed.properties.total) == 0.1", true],
    ["count('Order Completed') == 1 and count(track) == 4", true],
    ["last_seen_at > '2025-02-27' and first_seen_at < '2024-08-15T00:00:00+03:00'", true],
    ["last_seen_at == 'yesterday'", false],
    ["true and not false", true],
  ];
  for (const [src, want] of cases) assert.equal(evaluate(ast(src), subject, NOW, env), want, src);
});

test("strings order by code point, not by UTF-16 unit", () => {
  const s = { ...subject, customer: customer({ locale: "😀" }) };
  assert.equal(evaluate(ast("locale > '\uE000'"), s, NOW, env), true);
});

test("the stage is the first matching one", () => {
  assert.equal(evaluateStage(subject, NOW, env), "at_risk");
  const fresh = { ...subject, customer: customer({ orders: 0, last_order_at: null, email: null }) };
  assert.equal(evaluateStage(fresh, NOW, env), "lead");
  const nobody = { ...fresh, customer: { ...fresh.customer, consents: { call: { state: "unsubscribed" } } } };
  assert.equal(evaluateStage(nobody, NOW, env), null);
});

test("a definition that refers to itself is refused, not looped on", () => {
  const loop: ConditionEnv = {
    ...env,
    segments: new Map([
      ["a", ast("segment('b')")],
      ["b", ast("segment('a')")],
    ]),
  };
  assert.throws(() => evaluate(ast("segment('a')"), subject, NOW, loop), /refers to itself/);
  const stageLoop: ConditionEnv = { ...env, stages: [["x", ast("stage == 'x'")]] };
  assert.throws(() => evaluateStage(subject, NOW, stageLoop), /refers to itself/);
});

test("nextChange is the moment a days_since comparison flips", () => {
  const s = { ...subject, customer: customer({ last_order_at: ago(10) }) };
  const next = nextChange(ast("days_since_last_order > 45"), s, NOW, env);
  assert.equal(next?.getTime(), ago(10).getTime() + 46 * DAY);
  assert.equal(nextChange(ast("days_since_last_order > 5"), s, NOW, env), null, "already true, stays true");
  assert.equal(nextChange(ast("days_since_last_order exists"), s, NOW, env), null);
  assert.equal(nextChange(ast("orders > 1"), s, NOW, env), null);
});

test("nextChange is the moment an event leaving a window flips a count", () => {
  const c = ast("count(page where properties.section == 'courses', 30d) >= 2");
  const next = nextChange(c, subject, NOW, env);
  // pages 2 and 20 days ago are inside; the answer flips when the 20-day-old one leaves
  assert.equal(next?.getTime(), ago(20).getTime() + 30 * DAY);
  assert.equal(evaluate(c, subject, new Date((next?.getTime() ?? 0) - 1), env), true);
  assert.equal(evaluate(c, subject, next ?? NOW, env), false);
  assert.equal(
    nextChange(ast("count(page) >= 2"), subject, NOW, env),
    null,
    "all time never changes by itself",
  );
});

test("nextChange follows segments and the stage list", () => {
  const viaSegment = nextChange(ast("segment('browsers')"), subject, NOW, env);
  assert.equal(viaSegment?.getTime(), ago(20).getTime() + 30 * DAY);
  const s = { ...subject, customer: customer({ last_order_at: ago(10) }) };
  // repeat now; becomes at_risk when 46 days have passed since the last order
  assert.equal(evaluateStage(s, NOW, env), "repeat");
  assert.equal(nextChange(ast("stage == 'repeat'"), s, NOW, env)?.getTime(), ago(10).getTime() + 46 * DAY);
});
