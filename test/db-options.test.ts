// The PostgreSQL sessions' own settings (no JIT, generic plans for named statements) hold whether or not the
// database URL carries `options` of its own, and the URL's options are kept.
import assert from "node:assert/strict";
import { test } from "node:test";
import { openDb, withSessionOptions } from "../src/store/db.ts";
import { pgUrl } from "./helpers.ts";

test("the session options go before the URL's own", () => {
  const plain = new URL(withSessionOptions("postgres://u:p%40ss@db.example:5432/tact"));
  assert.equal(plain.searchParams.get("options"), "-c plan_cache_mode=force_generic_plan -c jit=off");
  assert.equal(plain.password, "p%40ss");
  const own = new URL(
    withSessionOptions("postgres://db.example/tact?options=-c%20statement_timeout%3D5s&sslmode=require"),
  );
  assert.equal(
    own.searchParams.get("options"),
    "-c plan_cache_mode=force_generic_plan -c jit=off -c statement_timeout=5s",
  );
  assert.equal(own.searchParams.get("sslmode"), "require");
  assert.equal(
    withSessionOptions("host=/var/run/postgresql dbname=tact"),
    "host=/var/run/postgresql dbname=tact",
  );
});

test("a server session runs without JIT and keeps the URL's settings", { skip: !pgUrl }, async () => {
  const url = new URL(pgUrl ?? "");
  url.searchParams.set("options", "-c default_transaction_read_only=on");
  for (const databaseUrl of [pgUrl ?? "", url.toString()]) {
    const db = await openDb({ databaseUrl });
    try {
      const { rows } = await db.pool.query(
        "SELECT current_setting('jit') AS jit, current_setting('plan_cache_mode') AS plans, current_setting('default_transaction_read_only') AS ro",
      );
      assert.deepEqual(rows[0], {
        jit: "off",
        plans: "force_generic_plan",
        ro: databaseUrl === pgUrl ? "off" : "on",
      });
    } finally {
      await db.close();
    }
  }
});

test("report queries are planned with their values on a server; an error leaves the connection clean", async () => {
  const db = await openDb(pgUrl ? { databaseUrl: pgUrl } : { dataDir: "memory://" });
  try {
    const setting = "SELECT current_setting('plan_cache_mode') AS plans WHERE $1::integer = 1";
    const { rows } = await db.reports.query<{ plans: string }>(setting, [1]);
    assert.deepEqual(rows, [{ plans: pgUrl ? "force_custom_plan" : "auto" }]);
    await assert.rejects(db.reports.query("SELECT 1 / $1::integer", [0]), /division by zero/);
    // every connection of the pool is usable (no transaction left aborted) and keeps the sessions' setting
    const after = await Promise.all(
      Array.from({ length: 12 }, () => db.pool.query<{ plans: string }>(setting, [1])),
    );
    for (const r of after) assert.deepEqual(r.rows, [{ plans: pgUrl ? "force_generic_plan" : "auto" }]);
  } finally {
    await db.close();
  }
});
