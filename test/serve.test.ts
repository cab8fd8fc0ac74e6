// `tact serve` and the CLI as a user runs them: first start prints keys, health, graceful shutdown that finishes
// requests in flight and leaves the embedded database intact, workspace and key commands.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { basic, get, post, type TestDb, testDb } from "./helpers.ts";

const BIN = join(import.meta.dirname, "..", "bin", "tact.js");
let dataDir: string;
let t: TestDb | undefined;
let env: NodeJS.ProcessEnv;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tact-serve-"));
  env = { ...process.env, LOG_LEVEL: "warn", TACT_DATA_DIR: dataDir };
  delete env.DATABASE_URL;
  if (process.env.TACT_TEST_DATABASE_URL) {
    t = await testDb();
    env.DATABASE_URL = t.url;
  }
});
after(async () => {
  await t?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

interface Running {
  proc: ChildProcess;
  url: string;
  stdout: () => string;
  exited: Promise<number | null>;
}

async function startTact(...args: string[]): Promise<Running> {
  const port = await freePort();
  const proc = spawn(process.execPath, [BIN, "serve", ...args], {
    env: { ...env, PORT: String(port), HOST: "127.0.0.1" },
  });
  let out = "";
  proc.stdout?.on("data", (d) => {
    out += d;
  });
  proc.stderr?.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`);
      if (res.status === 200) {
        assert.deepEqual(await res.json(), { status: "ok" });
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`tact serve did not become healthy:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, url, stdout: () => out, exited };
}

function tact(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("first start creates workspace 'default' and prints its keys; a user can send an event at once", async () => {
  const s = await startTact();
  const write = /write key[^:]*:\s+(tact_write_\S+)/.exec(s.stdout())?.[1];
  const admin = /admin key[^:]*:\s+(tact_admin_\S+)/.exec(s.stdout())?.[1];
  assert.ok(write && admin, s.stdout());
  const r = await post(
    `${s.url}/v1/track`,
    { userId: "first", event: "signed_up" },
    { authorization: basic(write) },
  );
  assert.equal(r.status, 200);
  const found = await get(`${s.url}/api/v1/customers?userId=first`, admin);
  assert.equal(found.body.customers.length, 1);

  if (!t) {
    // The embedded database belongs to one process: a second one gets a clear refusal, not a corrupt folder.
    const second = tact("workspaces", "list");
    assert.equal(second.code, 1);
    assert.match(second.stderr, /in use by process/);
  }

  // SIGTERM while a large batch is in flight: the request completes, then the process exits cleanly.
  const items = Array.from({ length: 2000 }, (_, i) => ({
    type: "track",
    userId: `inflight-${i % 50}`,
    event: "e",
  }));
  const inflight = post(`${s.url}/v1/batch`, { batch: items }, { authorization: basic(write) });
  await new Promise((r) => setTimeout(r, 30));
  s.proc.kill("SIGTERM");
  const response = await inflight;
  assert.equal(response.status, 200);
  assert.equal(response.body.accepted, 2000);
  assert.equal(await s.exited, 0);

  // Restart on the same data: nothing is printed again, and everything is there.
  const again = await startTact();
  assert.doesNotMatch(again.stdout(), /Created workspace/);
  const c = await get(`${again.url}/api/v1/customers?userId=inflight-7`, admin);
  assert.equal(c.body.customers.length, 1);
  const events = await get(
    `${again.url}/api/v1/customers/${c.body.customers[0].id}/events?limit=1000`,
    admin,
  );
  assert.equal(events.body.events.length, 40);
  again.proc.kill("SIGINT");
  assert.equal(await again.exited, 0);
});

test("workspaces and keys from the command line: create, use, revoke", async () => {
  assert.equal(tact("workspaces", "create", "shop").code, 0);
  const dup = tact("workspaces", "create", "shop");
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /already exists/);
  assert.equal(tact("workspaces", "create", "Bad Name!").code, 1);
  const bad = tact("keys", "create", "--workspace", "shop", "--kind", "root");
  assert.equal(bad.code, 2);
  const created = tact("keys", "create", "--workspace", "shop", "--kind", "write", "--json");
  assert.equal(created.code, 0, created.stderr);
  const key = JSON.parse(created.stdout) as { key: string; keyId: string; kind: string };
  assert.equal(key.kind, "write");
  const settings = tact(
    "workspaces",
    "settings",
    "shop",
    "--merge-on",
    "email,phone",
    "--default-country",
    "RU",
    "--json",
  );
  assert.deepEqual(JSON.parse(settings.stdout), { merge_on: ["email", "phone"], default_country: "RU" });

  let s = await startTact();
  assert.equal(
    (await post(`${s.url}/v1/track`, { userId: "a", event: "e" }, { authorization: basic(key.key) })).status,
    200,
  );
  s.proc.kill("SIGTERM");
  await s.exited;

  const listed = tact("keys", "list", "--workspace", "shop", "--json");
  assert.ok(!listed.stdout.includes(key.key), "keys are stored hashed and never listed");
  assert.equal(tact("keys", "revoke", key.keyId).code, 0);
  assert.equal(tact("keys", "revoke", key.keyId).code, 1);
  s = await startTact();
  assert.equal(
    (await post(`${s.url}/v1/track`, { userId: "a", event: "e" }, { authorization: basic(key.key) })).status,
    401,
  );
  s.proc.kill("SIGTERM");
  await s.exited;

  // Customers from the command line: find, export everything held, erase.
  const found = tact("customers", "find", "--workspace", "shop", "--user-id", "a");
  assert.equal(found.code, 0, found.stderr);
  const [customer] = JSON.parse(found.stdout) as { id: string; userId: string }[];
  assert.equal(customer?.userId, "a");
  const exported = JSON.parse(
    tact("customers", "export", String(customer?.id), "--workspace", "shop").stdout,
  );
  assert.equal(exported.events.length, 1);
  assert.equal(tact("customers", "erase", String(customer?.id), "--workspace", "shop").code, 0);
  assert.deepEqual(JSON.parse(tact("customers", "find", "--workspace", "shop", "--user-id", "a").stdout), []);
  assert.equal(tact("customers", "get", String(customer?.id), "--workspace", "shop").code, 1);
  assert.equal(tact("customers", "find", "--workspace", "shop").code, 2);
});

test("serve --no-engine answers HTTP only on PostgreSQL, and is refused on the embedded database", async () => {
  if (!process.env.TACT_TEST_DATABASE_URL) {
    const r = tact("serve", "--no-engine");
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--no-engine: the embedded database serves one process/);
    return;
  }
  const running = await startTact("--no-engine");
  try {
    assert.equal((await fetch(`${running.url}/health`)).status, 200);
  } finally {
    running.proc.kill("SIGTERM");
    assert.equal(await running.exited, 0, running.stdout());
  }
});
