// What conditions read of customers' events: each selector inside the longest window that reads it, and the
// `since_entry` counts of scenario conditions no further back than the earliest entry they are evaluated for.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { conditionDeps, parseCondition } from "../src/core/condition/index.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { loadEvents } from "../src/store/subjects.ts";
import { createWorkspace, type Workspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";

const NOW = new Date("2026-06-10T12:00:00Z");
const ENTRY = new Date("2026-06-01T09:30:00.250Z");
const at = (ms: number) => new Date(ENTRY.getTime() + ms).toISOString();

let t: TestDb;
let ws: Workspace;
let customer: string;

before(async () => {
  t = await testDb();
  ws = await createWorkspace(t.db, "subjects");
  const events = [
    { event: "quiz_done", timestamp: "2025-01-05T10:00:00Z" }, // long before: read only by an all-time count
    { event: "quiz_done", timestamp: at(-1) }, // a millisecond before the entry
    { event: "quiz_done", timestamp: at(0) }, // at the entry: since_entry counts it
    { event: "quiz_done", timestamp: at(3_600_000) },
    { event: "lesson_viewed", timestamp: at(-3 * 86_400_000) }, // before the entry, inside 30 days
  ].map((e, i) => ({ type: "track", userId: "kim", messageId: `m${i}`, ...e }));
  const r = await ingestMessages(t.db, ws, events, { receivedAt: NOW });
  assert.deepEqual(r.rejected, []);
  const { rows } = await t.db.pool.query("SELECT customer_id FROM customers WHERE workspace_id = $1", [
    ws.id,
  ]);
  customer = rows[0].customer_id;
});
after(() => t.close());

function parsed(condition: string) {
  const r = parseCondition(condition);
  assert.ok(r.ok);
  return r.ast;
}

async function read(conditions: string[], entries?: Date): Promise<string[]> {
  const needs = conditions.map((c) => conditionDeps(parsed(c)));
  const events = (await loadEvents(t.db.pool, ws.id, [customer], needs, NOW, entries)).get(customer) ?? [];
  return events.map((e) => `${e.name}@${e.occurred_at.toISOString()}`).sort();
}

test("a since_entry count reads from the earliest entry, the entry's own moment included", async () => {
  const deps = conditionDeps(parsed("count(quiz_done, since_entry) == 0"));
  assert.equal(deps.sinceEntry, true);
  assert.equal(deps.maxWindowMs, 0, "since_entry is no all-time read");
  assert.deepEqual(await read(["count(quiz_done, since_entry) == 0"], ENTRY), [
    `quiz_done@${at(0)}`,
    `quiz_done@${at(3_600_000)}`,
  ]);
});

test("without a known entry, and beside an all-time or a longer count, the wider read wins", async () => {
  assert.equal((await read(["count(quiz_done, since_entry) == 0"])).length, 4, "no entry known: all time");
  assert.equal((await read(["count(quiz_done, since_entry) == 0", "count(quiz_done) > 1"], ENTRY)).length, 4);
  assert.deepEqual(await read(["count(quiz_done, since_entry) == 0 or count(track, 30d) > 9"], ENTRY), [
    `lesson_viewed@${at(-3 * 86_400_000)}`,
    `quiz_done@${at(-1)}`,
    `quiz_done@${at(0)}`,
    `quiz_done@${at(3_600_000)}`,
  ]);
});
