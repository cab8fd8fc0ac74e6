// Prometheus metrics: GET /metrics is valid text exposition format 0.0.4 (checked line by line by a small parser
// here), reflects the engine's queues and their lag as rows appear, labels messages by workspace, channel and fate
// with escaping intact, and asks for the bearer token when one is configured.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import Fastify from "fastify";
import { VirtualClock } from "../src/core/clock.ts";
import { buildApp } from "../src/server/app.ts";
import { registerMetrics } from "../src/server/metrics.ts";
import { type TestDb, type TestWorkspace, testDb, testWorkspace } from "./helpers.ts";

const clock = new VirtualClock("2026-03-02T10:00:00Z");
let t: TestDb;
let w: TestWorkspace;
let url: string;
let close: () => Promise<void>;

before(async () => {
  t = await testDb();
  const app = await buildApp({ db: t.db, clock, logger: false });
  // until the app registers the route itself
  if (!app.hasRoute({ method: "GET", url: "/metrics" })) registerMetrics(app, t.db, { clock, token: "" });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const addr = app.server.address();
  url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  close = () => app.close();
  w = await testWorkspace(t.db);
});
after(async () => {
  await close?.();
  await t?.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|NaN|[+-]Inf)$/;

/** Reads `{a="x",b="y"}` from the start of `s`; returns the labels and the rest of the line. */
function parseLabels(s: string, line: string): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let i = 1;
  while (s[i] !== "}") {
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i))?.[0];
    assert.ok(name, `a label name at ${i}: ${line}`);
    i += name.length;
    assert.equal(s.slice(i, i + 2), '="', `="" after ${name}: ${line}`);
    i += 2;
    let value = "";
    for (;;) {
      const c = s[i];
      assert.ok(c !== undefined && c !== "\n", `an unterminated label value: ${line}`);
      if (c === '"') break;
      if (c === "\\") {
        const e = s[i + 1];
        assert.ok(e === "\\" || e === '"' || e === "n", `only \\\\, \\" and \\n escapes: ${line}`);
        value += e === "n" ? "\n" : e;
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    assert.ok(!(name in labels), `label ${name} twice: ${line}`);
    labels[name] = value;
    i++;
    if (s[i] === ",") i++;
    else assert.equal(s[i], "}", `, or } after a label: ${line}`);
  }
  return [labels, s.slice(i + 1)];
}

/** Checks the text exposition format line by line and returns its samples. */
function parseExposition(text: string): Sample[] {
  assert.ok(text.endsWith("\n"), "the exposition ends with a line feed");
  const help = new Set<string>();
  const types = new Map<string, string>();
  const done = new Set<string>();
  const series = new Set<string>();
  const samples: Sample[] = [];
  let current: string | undefined;
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name = "", rest = ""] = meta;
      assert.match(name, NAME, line);
      if (current !== name && current !== undefined) done.add(current);
      assert.ok(!done.has(name), `family ${name} is not contiguous`);
      current = name;
      if (kind === "HELP") {
        assert.ok(!help.has(name), `HELP for ${name} twice`);
        assert.ok(!/\\(?!n)/.test(rest.replace(/\\\\/g, "")), `HELP escapes only \\\\ and \\n: ${line}`);
        help.add(name);
      } else {
        assert.ok(!types.has(name), `TYPE for ${name} twice`);
        assert.ok(!samples.some((s) => s.name === name), `TYPE of ${name} after its samples`);
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, line);
        types.set(name, rest);
      }
      continue;
    }
    assert.ok(!line.startsWith("#"), `an unknown comment line: ${line}`);
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    assert.ok(name, `a sample line starts with a metric name: ${line}`);
    assert.equal(name, current, `sample ${name} outside its family`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) [labels, rest] = parseLabels(rest, line);
    const value = /^ (\S+)$/.exec(rest)?.[1];
    assert.ok(value !== undefined && VALUE.test(value), `a sample value: ${line}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!series.has(key), `series twice: ${line}`);
    series.add(key);
    samples.push({ name, labels, value: Number(value.replace("Inf", "Infinity")) });
  }
  for (const s of samples) {
    assert.ok(types.has(s.name) && help.has(s.name), `${s.name} has HELP and TYPE`);
  }
  return samples;
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await res.text());
}

/** The value of one series, 0 when absent (a queue with nothing in it has no series). */
function seriesValue(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `one series of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

async function customer(): Promise<string> {
  const { rows } = await t.db.pool.query<{ customer_id: string }>(
    `INSERT INTO customers (workspace_id, customer_id, email) VALUES ($1, nextval('customer_id_seq'), 'mia@example.com')
     RETURNING customer_id`,
    [w.workspace.id],
  );
  return rows[0]?.customer_id ?? "";
}

async function message(customerId: string, channel: string, fate: string, dueAt: Date | null): Promise<void> {
  await t.db.pool.query(
    `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, channel, template, fate, planned_at,
                           due_at, updated_at)
     VALUES ($1, $2, 'spring', nextval('customer_id_seq'), '0', $3, 'tulips', $4, $5, $6, $5)`,
    [w.workspace.id, customerId, channel, fate, clock.now(), dueAt],
  );
}

test("the exposition parses and reflects a queued message, its lag and the other queues", async () => {
  const empty = await scrape();
  const ws = w.workspace.name;
  assert.equal(seriesValue(empty, "tact_queue_messages", { workspace: ws, fate: "queued" }), 0);
  assert.equal(seriesValue(empty, "tact_due_lag_seconds", { queue: "messages" }), 0);
  assert.ok(
    seriesValue(empty, "process_resident_memory_bytes", {}) > 1_000_000,
    "resident memory is reported",
  );
  assert.ok(empty.some((s) => s.name === "nodejs_eventloop_lag_seconds"));

  const cid = await customer();
  const due = new Date(clock.now().getTime() - 90_000);
  await message(cid, "email", "queued", due);
  await message(cid, 'we"ird\\na\nme', "queued", clock.now());
  await message(cid, "email", "failed", null);
  await message(cid, "email", "sent", null);
  await message(cid, "email", "awaiting_approval", null);
  await t.db.pool.query(
    `INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, step_id, due_at, updated_at)
     VALUES ($1, $2, 'spring', 1, $3, '0', $3, $3), ($1, $2, 'summer', 1, $3, '0', $4, $3)`,
    [
      w.workspace.id,
      cid,
      new Date(clock.now().getTime() - 30_000),
      new Date(clock.now().getTime() + 3_600_000),
    ],
  );
  await t.db.pool.query(
    "INSERT INTO membership_due (workspace_id, customer_id, due_at) VALUES ($1, $2, $3)",
    [w.workspace.id, cid, clock.now()],
  );

  const s = await scrape();
  assert.equal(seriesValue(s, "tact_queue_messages", { workspace: ws, fate: "queued" }), 2);
  assert.equal(seriesValue(s, "tact_queue_messages", { workspace: ws, fate: "awaiting_approval" }), 1);
  assert.equal(
    seriesValue(s, "tact_queue_messages", { workspace: ws, fate: "sent" }),
    0,
    "a sent message waits no more",
  );
  assert.equal(seriesValue(s, "tact_due_lag_seconds", { queue: "messages" }), 90);
  assert.equal(seriesValue(s, "tact_due_lag_seconds", { queue: "scenario_entries" }), 30);
  assert.equal(seriesValue(s, "tact_queue_scenario_entries", { workspace: ws }), 2);
  assert.equal(seriesValue(s, "tact_queue_scenario_entries_due", { workspace: ws }), 1);
  assert.equal(seriesValue(s, "tact_queue_memberships_due", { workspace: ws }), 1);
  const weird = { workspace: ws, channel: 'we"ird\\na\nme', fate: "queued" };
  assert.equal(seriesValue(s, "tact_messages", weird), 1, "label values survive escaping");
  assert.equal(seriesValue(s, "tact_messages_sent_total", { workspace: ws, channel: "email" }), 1);
  assert.equal(seriesValue(s, "tact_messages_failed_total", { workspace: ws, channel: "email" }), 1);

  clock.advance(60_000);
  const later = await scrape();
  assert.equal(
    seriesValue(later, "tact_due_lag_seconds", { queue: "messages" }),
    150,
    "the lag grows with time",
  );
});

test("with a token configured, a scrape without it is refused", async () => {
  const app = Fastify();
  registerMetrics(app, t.db, { clock, token: "s3cret-scrape" });
  try {
    const none = await app.inject({ method: "GET", url: "/metrics" });
    assert.equal(none.statusCode, 401);
    const wrong = await app.inject({
      method: "GET",
      url: "/metrics",
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(wrong.statusCode, 401);
    const right = await app.inject({
      method: "GET",
      url: "/metrics",
      headers: { authorization: "Bearer s3cret-scrape" },
    });
    assert.equal(right.statusCode, 200);
    assert.ok(parseExposition(right.body).some((x) => x.name === "tact_queue_messages"));
  } finally {
    await app.close();
  }
});
