// Work signalled across processes: a server that stores events wakes the engines of other processes at once
// through the database (NOTIFY / LISTEN), and a listener whose connection is lost listens again.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Db, openDb } from "../src/store/db.ts";
import { onWork, workSignal } from "../src/store/work-signal.ts";
import { type TestDb, testDb } from "./helpers.ts";

let t: TestDb;
before(async () => {
  t = await testDb();
});
after(async () => {
  await t.close();
});

/** Resolves with how many wakes came within `ms`. */
function wakesWithin(counter: { n: number }, from: number, ms: number): Promise<number> {
  return new Promise((resolve) => {
    const deadline = Date.now() + ms;
    const look = () => {
      if (counter.n > from || Date.now() > deadline) resolve(counter.n - from);
      else setTimeout(look, 10);
    };
    look();
  });
}

test("a signal from one process wakes the engine of another, also after its connection was lost", async (c) => {
  if (!t.url) {
    // the embedded database belongs to one process: nothing is sent, nothing listens
    const woken = { n: 0 };
    const stop = onWork(t.db, () => woken.n++);
    workSignal(t.db)();
    await new Promise((r) => setTimeout(r, 100));
    await stop();
    assert.equal(woken.n, 0);
    c.diagnostic("embedded database: signals are not used");
    return;
  }
  const other: Db = await openDb({ databaseUrl: t.url });
  const woken = { n: 0 };
  const stop = onWork(other, () => woken.n++);
  try {
    // listening wakes once (for what came before it listened)
    assert.equal(await wakesWithin(woken, 0, 5000), 1);
    const signal = workSignal(t.db);
    const before = woken.n;
    const sentAt = Date.now();
    signal();
    assert.equal(await wakesWithin(woken, before, 2000), 1, "the signal woke the other process");
    c.diagnostic(`woken ${Date.now() - sentAt} ms after the signal`);

    // the listening connection is cut: it listens again (and wakes for what it may have missed)
    const { rows } = await t.db.pool.query<{ n: string }>(
      "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN tact_work'",
    );
    assert.equal(Number(rows[0]?.n), 1);
    const cut = woken.n;
    assert.equal(await wakesWithin(woken, cut, 5000), 1, "woken on listening again");
    const again = woken.n;
    signal();
    assert.equal(await wakesWithin(woken, again, 2000), 1, "signals reach it after the reconnection");
  } finally {
    await stop();
    await other.close();
  }
});
