import assert from "node:assert/strict";
import { test } from "node:test";
import { checkCondition, conditionDeps, parseCondition } from "./index.ts";

const EXAMPLES = [
  "orders >= 1 and days_since_last_order > 45",
  "traits.company exists",
  "count(page where properties.section == 'courses', 30d) >= 3",
  "count(order_completed where properties.total > 100, 30d) > 0",
  "stage == 'lead'",
  "segment('b2b')",
  "reachable",
  "consent.email == 'opted_in'",
  "traits.city in ['Moscow', 'Kazan']",
  'email contains "@gmail."',
  "count(order_completed, since_entry) >= 1",
  "sum('Order Completed'.properties.total where not properties.test exists, 2w) > 1000.5",
  "not (orders > 3) or traits.a.b not in [1, true, 'x'] and last_seen_at < '2025-01-31T12:00:00+03:00'",
  "last(page.properties.url) starts_with 'https://' and traits.vip",
];

function ok(src: string) {
  const r = parseCondition(src);
  if (!r.ok) assert.fail(`${src}: ${JSON.stringify(r.errors)}`);
  return r.ast;
}

test("the documented examples parse, and every node's offsets lie inside the source", () => {
  for (const src of EXAMPLES) {
    const ast = ok(src);
    assert.equal(ast.start, 0, src);
    assert.equal(ast.end, src.length, src);
    JSON.stringify(ast, (k, v) => {
      if (k === "start" || k === "end") assert.ok(v >= 0 && v <= src.length, `${src}: ${k}=${v}`);
      return v;
    });
  }
});

test("precedence: not binds tighter than and, and tighter than or", () => {
  const ast = ok("not orders > 1 and email exists or reachable");
  assert.equal(ast.kind, "or");
  if (ast.kind !== "or") return;
  assert.equal(ast.left.kind, "and");
  if (ast.left.kind !== "and") return;
  assert.equal(ast.left.left.kind, "not");
  const notIn = ok("traits.x not in [1]");
  assert.equal(notIn.kind, "not");
});

test("every prefix and every one-character corruption of valid conditions gives errors inside the source, never a throw", () => {
  for (const src of EXAMPLES) {
    const variants: string[] = [];
    for (let i = 0; i <= src.length; i++) {
      variants.push(src.slice(0, i));
      for (const c of ["(", ")", "'", ",", "=", "@", "x", " ", "-", "["])
        variants.push(src.slice(0, i) + c + src.slice(i + 1));
    }
    for (const v of variants) {
      const r = parseCondition(v);
      if (r.ok) continue;
      assert.ok(r.errors.length > 0, v);
      for (const e of r.errors) {
        assert.ok(
          e.offset >= 0 && e.offset + e.length <= v.length,
          `${JSON.stringify(v)}: ${JSON.stringify(e)}`,
        );
        assert.ok(e.message.length > 0);
      }
    }
  }
});

test("errors point at the offending text and say what was expected", () => {
  const cases: [string, string, number, string | undefined][] = [
    ["ordrs > 1", "ordrs", 0, "orders"],
    ["orders = 1", "=", 7, "=="],
    ["count(page, 0d) > 1", "0d", 12, undefined],
    ["count(page, 4000d) > 1", "4000d", 12, undefined],
    ["count(page, -3d) > 1", "-3d", 12, undefined],
    ["orders > 1 and", "", 14, undefined],
    ["(orders > 1", "", 11, undefined],
    ["orders > 'open", "'open", 9, undefined],
    ["company exists", "company", 0, "traits.company"],
    ["orders == null", "null", 10, undefined],
    ["3 < orders", "3", 0, undefined],
    ["count(page where orders > 1) > 1", "orders", 17, undefined],
    ["properties.x == 1", "properties.x", 0, undefined],
    ["sum(page) > 1", "page", 4, undefined],
    ["orders > 1 && reachable", "&&", 11, "and"],
  ];
  for (const [src, text, offset, suggestion] of cases) {
    const r = parseCondition(src);
    assert.equal(r.ok, false, src);
    if (r.ok) continue;
    const e = r.errors.find((x) => x.offset === offset);
    assert.ok(e, `${src}: an error at ${offset}, got ${JSON.stringify(r.errors)}`);
    assert.equal(src.slice(e.offset, e.offset + e.length), text, src);
    assert.equal(e.suggestion, suggestion, src);
  }
  const r = parseCondition("(orders > 1");
  assert.ok(!r.ok && r.errors[0]?.expected?.includes(")"));
});

test("several problems are reported at once", () => {
  const r = parseCondition("ordrs > 1 and count(page, 0d) > 1 and lst_seen_at exists");
  assert.ok(!r.ok);
  if (r.ok) return;
  assert.deepEqual(
    r.errors.map((e) => e.offset),
    [0, 26, 38],
  );
});

const env = {
  channels: { email: "email", sms: "phone" } as const,
  segmentNames: ["b2b", "courses_browsers"],
  stageNames: ["lead", "first_buyer"],
  allowSinceEntry: false,
  allowStage: true,
};

test("checkCondition finds unknown names with a suggestion, type mismatches and misplaced since_entry", () => {
  const check = (src: string, e = env) => checkCondition(ok(src), e);
  assert.deepEqual(check("orders >= 1 and reachable.sms and segment('b2b') and stage == 'lead'"), []);
  assert.equal(check("consent.emial == 'opted_in'")[0]?.suggestion, "email");
  assert.equal(check("reachable.smss")[0]?.suggestion, "sms");
  assert.equal(check("segment('b2c')")[0]?.suggestion, "b2b");
  assert.equal(check("stage == 'leed'")[0]?.suggestion, "lead");
  assert.equal(check("consent.email == 'optedin'")[0]?.suggestion, "opted_in");
  const src = "orders == 'many' or email > 3 or last_order_at > '2025-13-01' or orders";
  assert.deepEqual(
    check(src).map((e) => src.slice(e.offset, e.offset + e.length)),
    ["'many'", "3", "'2025-13-01'", "orders"],
  );
  assert.equal(check("count(order_completed, since_entry) >= 1")[0]?.offset, 23);
  assert.deepEqual(check("count(order_completed, since_entry) >= 1", { ...env, allowSinceEntry: true }), []);
  assert.equal(check("stage == 'lead'", { ...env, allowStage: false }).length, 1);
  assert.deepEqual(check("traits.anything > 3 and traits.flag and last(page.properties.x) == true"), []);
});

test("conditionDeps lists segments, stage, events, profile reads and the longest window", () => {
  const d = conditionDeps(
    ok("segment('b2b') and count(page, 30d) > 1 and sum('Order Completed'.properties.total, 2w) > 3"),
  );
  assert.deepEqual([...d.segments], ["b2b"]);
  assert.deepEqual([...d.events].sort(), ["event:Order Completed", "type:page"]);
  assert.equal(d.profile, false);
  assert.equal(d.timeDependent, true);
  assert.equal(d.maxWindowMs, 30 * 86_400_000);
  const all = conditionDeps(ok("stage == 'lead' or count(signup) > 0 or days_since_last_seen > 3"));
  assert.equal(all.usesStage, true);
  assert.equal(all.maxWindowMs, null);
  assert.equal(all.profile, true);
  assert.equal(all.timeDependent, true);
  const plain = conditionDeps(ok("email exists"));
  assert.equal(plain.timeDependent, false);
  assert.equal(plain.maxWindowMs, 0);
});
