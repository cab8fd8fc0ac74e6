// The ingestion log behind the tracking API: what is acknowledged is committed before it is applied; bulk batches
// are answered once logged and applied after; leftovers of a stopped process are applied by the next; an entry
// that cannot be applied is set aside without holding up the others; a full log refuses with 503.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { systemClock } from "../src/core/clock.ts";
import { IngestQueue } from "../src/ingest/ingest-queue.ts";
import { appendLog, logBacklog } from "../src/store/ingest-log.ts";
import { basic, get, post, type TestDb, type TestWorkspace, testDb, testWorkspace } from "./helpers.ts";

let t: TestDb;
let w: TestWorkspace;

before(async () => {
  t = await testDb();
  w = await testWorkspace(t.db);
});
after(async () => {
  await t.close();
});

const count = async (sql: string, params: unknown[]) =>
  Number((await t.db.pool.query<{ n: string }>(sql, params)).rows[0]?.n);
const eventsOf = (prefix: string) =>
  count("SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND message_id LIKE $2", [
    w.workspace.id,
    `${prefix}%`,
  ]);
/** A batch request as the API hands it to the queue. */
const batch = (messages: unknown[]) => {
  const body = { batch: messages };
  return { call: "batch" as const, body, text: JSON.stringify(body), receivedAt: new Date() };
};
const tracks = (prefix: string, n: number, users = 10) =>
  Array.from({ length: n }, (_, i) => ({
    type: "track",
    userId: `${prefix}-u${i % users}`,
    event: "viewed",
    messageId: `${prefix}-${i}`,
  }));

test("a bulk batch is answered once committed to the log, and applied after; a small call is answered applied", async () => {
  const queue = new IngestQueue(t.db, { clock: systemClock });
  // not started: nothing applies in the background, so what the answer says can be checked against the tables
  const bulk = await queue.submit(w.workspace, batch(tracks("bulk", 300)));
  assert.deepEqual(bulk, { accepted: 300, duplicates: 0, rejected: [], queued: true });
  assert.equal(await eventsOf("bulk-"), 0);
  assert.equal((await logBacklog(t.db)).events, 300, "committed to the log before the answer");

  queue.start();
  const small = await queue.submit(w.workspace, batch(tracks("small", 3)));
  assert.deepEqual(small, { accepted: 3, duplicates: 0, rejected: [], queued: false });
  assert.equal(await eventsOf("small-"), 3, "applied before the answer");
  assert.equal(await eventsOf("bulk-"), 300, "the log is applied in order: the bulk batch came first");
  await queue.stop();
  assert.equal((await logBacklog(t.db)).events, 0);
});

test("a message id sent again in a later queued batch is stored once; an invalid message is refused at once", async () => {
  const queue = new IngestQueue(t.db, { clock: systemClock });
  const first = await queue.submit(w.workspace, batch(tracks("dup", 150)));
  const again = await queue.submit(
    w.workspace,
    batch([...tracks("dup", 150), { type: "track", event: "x" }]),
  );
  assert.equal(first.queued && again.queued, true);
  assert.equal(again.rejected.length, 1);
  assert.equal(again.rejected[0]?.index, 150);
  assert.match(again.rejected[0]?.reason ?? "", /userId or anonymousId/);
  assert.equal(await queue.drain(), 300, "both entries' messages are handled");
  assert.equal(await eventsOf("dup-"), 150);
});

test("entries a stopped process left in the log are applied by the next one to start", async () => {
  // As if a server had committed this request and died before applying it.
  const body = { batch: tracks("left", 20) };
  await appendLog(t.db, {
    workspaceId: w.workspace.id,
    receivedAt: new Date(Date.now() - 1000),
    events: 20,
    call: "batch",
    payload: JSON.stringify(body),
    skip: [],
  });
  let applied = 0;
  const queue = new IngestQueue(t.db, { clock: systemClock, onApplied: () => applied++ });
  queue.start();
  for (let i = 0; i < 100 && (await eventsOf("left-")) < 20; i++) await new Promise((r) => setTimeout(r, 50));
  await queue.stop();
  assert.equal(await eventsOf("left-"), 20);
  assert.ok(applied >= 1, "the engine is woken");
});

test("an entry that cannot be applied is set aside with the reason; the entries around it are applied", async () => {
  const queue = new IngestQueue(t.db, { clock: systemClock });
  await queue.submit(w.workspace, batch(tracks("before", 120)));
  await queue.submit(w.workspace, batch(tracks("bad", 120)));
  await t.db.pool.query(
    "UPDATE ingest_log SET payload = '[{not json' WHERE id = (SELECT max(id) FROM ingest_log)",
  );
  await queue.submit(w.workspace, batch(tracks("after", 120)));
  await queue.drain();
  assert.equal(await eventsOf("before-"), 120);
  assert.equal(await eventsOf("after-"), 120);
  const { rows } = await t.db.pool.query<{ failed: string }>(
    "SELECT failed FROM ingest_log WHERE failed IS NOT NULL",
  );
  assert.equal(rows.length, 1);
  assert.match(rows[0]?.failed ?? "", /JSON/);
  assert.deepEqual(await logBacklog(t.db), { events: 0, entries: 0, failed: 1 });
});

test("the API answers 503 with Retry-After when the log is full, and reports the backlog in /metrics", async () => {
  const { buildApp } = await import("../src/server/app.ts");
  const app = await buildApp({
    db: t.db,
    clock: systemClock,
    logger: false,
    ingest: { backlogLimit: 400, maxLagMs: 60_000 },
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  try {
    await app.ingest.stop(); // hold what arrives in the log
    const auth = { authorization: basic(w.writeKey) };
    const ok = await post(`${url}/v1/batch`, { batch: tracks("full", 300) }, auth);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.queued, true);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, new RegExp(`tact_queue_ingest_messages\\{workspace="${w.workspace.name}"\\} 300`));

    const res = await fetch(`${url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ batch: tracks("over", 200) }),
    });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "backlog_full");
    assert.match(body.error.message, /300 messages are waiting/);

    app.ingest.start();
    await app.ingest.drain();
    const retry = await post(`${url}/v1/batch`, { batch: tracks("over", 200) }, auth);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    await app.ingest.drain();
    assert.equal(await eventsOf("full-"), 300);
    assert.equal(await eventsOf("over-"), 200);
    const customers = await get(`${url}/api/v1/customers?userId=over-u1`, w.adminKey);
    assert.equal(customers.body.customers.length, 1);
  } finally {
    await app.close();
  }
});

/**
 * The test database with the first query matching `held` held until `release()`: `reached` resolves when it is
 * asked, so the test can act while a step of the applier waits.
 */
function holding(held: (sql: string) => boolean) {
  let release: () => void = () => undefined;
  let reach: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => {
    reach = resolve;
  });
  let holds = true;
  const pool = new Proxy(t.db.pool, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop !== "query") return typeof value === "function" ? value.bind(target) : value;
      return async (text: unknown, values?: unknown[]) => {
        if (holds && typeof text === "string" && held(text)) {
          holds = false;
          const open = new Promise<void>((resolve) => {
            release = resolve;
          });
          reach();
          await open;
        }
        return target.query(text as string, values);
      };
    },
  });
  return { db: { ...t.db, pool }, reached, release: () => release() };
}

test("a request logged while the applier asks which of its entries another process applied is still applied here", async () => {
  // Finding nothing to apply, the applier asks which of its entries are gone from the log (another process applied
  // them). A request logged while that question is out is not in its answer: it must not be taken for applied,
  // which left it to other processes as an orphan, 30 s later.
  const held = holding((sql) => sql.startsWith("SELECT id FROM ingest_log WHERE id = ANY"));
  const queue = new IngestQueue(held.db, { clock: systemClock });
  // not started: the test applies. An entry of this process that another one applied:
  await queue.submit(w.workspace, batch(tracks("elsewhere", 1)));
  await t.db.pool.query("DELETE FROM ingest_log WHERE payload LIKE '%elsewhere-0%'");
  const looking = queue.applyChunk();
  await held.reached;
  const late = await queue.submit(w.workspace, batch(tracks("meanwhile", 1)));
  assert.equal(late.queued, true);
  held.release();
  assert.equal(await looking, 0);
  await queue.drain();
  assert.equal(await eventsOf("meanwhile-"), 1, "applied by the process that logged it");
  assert.equal((await logBacklog(t.db)).events, 0);
});

test("a small call logged while the applier is busy finding nothing is applied at once, not at the next poll", async () => {
  // The applier is between looking (nothing to apply) and going to sleep when the call is logged: the call's wake-up
  // came while it was awake, and it slept the whole poll (5 s) with the caller waiting.
  const held = holding((sql) => sql.includes("AS events"));
  const queue = new IngestQueue(held.db, { clock: systemClock });
  queue.start();
  await held.reached; // the applier found nothing and counts the backlog
  const started = performance.now();
  const answer = queue.submit(w.workspace, batch(tracks("awake", 1)));
  await new Promise((r) => setTimeout(r, 50));
  held.release();
  assert.equal((await answer).queued, false, "answered once applied");
  const ms = performance.now() - started;
  await queue.stop();
  assert.equal(await eventsOf("awake-"), 1);
  assert.ok(ms < 2500, `answered after ${Math.round(ms)} ms, the applier's poll is 5 s`);
});
