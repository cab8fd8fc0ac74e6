// The planner's statistics kept current without autovacuum: a month's event partition that filled since its last
// analysis is analysed when enough rows were written (store/statistics.ts), so reads of customers' events are not
// planned as if it were still empty.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { noteGrowth } from "../src/store/statistics.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";

let t: TestDb;

before(async () => {
  t = await testDb();
});

after(() => t.close());

/** The partition's changes since its last analysis and when that was, from the cumulative statistics. */
interface PartitionStats {
  changed: number;
  analyzed: Date | null;
}

async function partitionStats(name: string): Promise<PartitionStats> {
  const { rows } = await t.db.pool.query<{ changed: string; analyzed: Date | null }>(
    `SELECT n_mod_since_analyze AS changed, last_analyze AS analyzed FROM pg_stat_user_tables WHERE relname = $1`,
    [name],
  );
  return { changed: Number(rows[0]?.changed ?? 0), analyzed: rows[0]?.analyzed ?? null };
}

/** The partition's statistics once `ready` holds of them, or after 5 s. */
async function partitionStatsWhen(
  name: string,
  ready: (s: PartitionStats) => boolean,
): Promise<PartitionStats> {
  let s = await partitionStats(name);
  for (let i = 0; i < 50 && !ready(s); i++) {
    await sleep(100);
    s = await partitionStats(name);
  }
  return s;
}

test("a month's event partition written to since its last analysis is analysed as rows are written", async (ctx) => {
  const ws = await createWorkspace(t.db, "stats");
  const at = new Date("2031-05-02T10:00:00Z");
  const events = Array.from({ length: 600 }, (_, i) => ({
    type: "track",
    userId: `u${i % 60}`,
    event: "page_read",
    timestamp: new Date(at.getTime() + i * 1000).toISOString(),
  }));
  const r = await ingestMessages(t.db, ws, events, { receivedAt: at });
  assert.equal(r.accepted, 600);
  const partition = "events_p2031_05";
  // a server counts changes when the writing session reports them, within a second or so
  const written = await partitionStatsWhen(partition, (s) => s.changed > 0);
  if (written.changed === 0) {
    ctx.skip("this database keeps no counts of changed rows");
    return;
  }
  assert.equal(written.analyzed, null, "not analysed after 600 rows");
  noteGrowth(t.db, 20_000);
  const now = await partitionStatsWhen(partition, (s) => s.analyzed !== null);
  assert.notEqual(now.analyzed, null, "analysed after 20,000 rows written");
  assert.equal(now.changed, 0);
});
