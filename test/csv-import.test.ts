// CSV import and export as a user meets them: column mapping, bad rows reported by line, missing columns,
// non-UTF-8 files, gzip, re-runs and interrupted runs without duplicates, export round-trip, the online-retail
// preset against an independent computation on the real file, and the `tact import` command itself.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createGunzip, gzipSync } from "node:zlib";
import { exportCustomers } from "../src/ingest/csv-export.ts";
import {
  CsvFileError,
  CsvMappingError,
  type ImportOptions,
  importCsv,
  MissingColumnError,
} from "../src/ingest/csv-import.ts";
import type { Workspace } from "../src/store/workspaces.ts";
import { runTact, type TestDb, testDb, testWorkspace } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const RETAIL = join(ROOT, "../shared/data/online_retail.csv.gz");

let t: TestDb;
let dir: string;
before(async () => {
  t = await testDb();
  dir = mkdtempSync(join(tmpdir(), "tact-csv-"));
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

let fileNo = 0;
function fixture(content: string | Buffer, name = `f${++fileNo}.csv`): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
const ws = async () => (await testWorkspace(t.db)).workspace;
const run = (w: Workspace, path: string, opts: ImportOptions) => importCsv(t.db, w, path, opts);

async function customer(w: Workspace, userId: string): Promise<any> {
  const { rows } = await t.db.pool.query("SELECT * FROM customers WHERE workspace_id = $1 AND user_id = $2", [
    w.id,
    userId,
  ]);
  return rows[0];
}
async function totals(
  w: Workspace,
): Promise<{ customers: number; orders: number; revenue: string; events: number }> {
  const c = await t.db.pool.query(
    "SELECT count(*)::int AS n, COALESCE(sum(orders), 0)::int AS orders, COALESCE(sum(revenue), 0)::numeric(20,2)::text AS revenue FROM customers WHERE workspace_id = $1",
    [w.id],
  );
  const e = await t.db.pool.query("SELECT count(*)::int AS n FROM events WHERE workspace_id = $1", [w.id]);
  return {
    customers: c.rows[0].n,
    orders: c.rows[0].orders,
    revenue: c.rows[0].revenue,
    events: e.rows[0].n,
  };
}

test("customers: columns recognised by name and mapped by flags become ids, contact points, consents and typed traits", async () => {
  const w = await ws();
  const path = fixture(
    [
      "Client ID,E-Mail,Mobile,First Name,Age,VIP,email_consent,sms_consent,Time Zone,locale,Signed Up",
      "c1, Anna@Example.COM ,+7 916 123-45-67,Anna,34,yes,yes,no,Europe/Moscow,ru-RU,2024-03-01 10:00:00",
      "c2,bob@example.com,,Bob,,no,opted_in,,,,",
    ].join("\n"),
  );
  const s = await run(w, path, {
    kind: "customers",
    map: {
      "Client ID": "userId",
      "E-Mail": "email",
      Age: "trait.age:integer",
      VIP: "vip:boolean",
      "Time Zone": "timezone",
    },
  });
  assert.equal(s.complete, true);
  assert.deepEqual([s.rowsRead, s.rowsImported, s.rejectedRows], [2, 2, 0]);
  assert.deepEqual(s.messages, { sent: 2, accepted: 2, duplicates: 0, rejected: 0 });
  const anna = await customer(w, "c1");
  assert.equal(anna.email, "anna@example.com");
  assert.equal(anna.phone, "+79161234567");
  assert.equal(anna.timezone, "Europe/Moscow");
  assert.equal(anna.locale, "ru-RU");
  assert.equal(anna.consents.email.state, "opted_in");
  assert.equal(anna.consents.sms.state, "unsubscribed");
  assert.equal(anna.traits["First Name"], "Anna");
  assert.equal(anna.traits.age, 34);
  assert.equal(anna.traits.vip, true);
  assert.equal(anna.traits["Signed Up"], "2024-03-01 10:00:00");
  const bob = await customer(w, "c2");
  assert.equal(bob.traits.vip, false);
  assert.equal(bob.traits.age, undefined, "an empty cell sets nothing");
  assert.equal(bob.consents.email.state, "opted_in");
});

test("customers with only an email are one customer per address, the same on a second import", async () => {
  const w = await ws();
  const a = fixture("email,name\nx@example.com,X\ny@example.com,Y\n");
  const b = fixture("email,city\nX@Example.com,Oslo\n");
  await run(w, a, { kind: "customers" });
  await run(w, b, { kind: "customers" });
  const { rows } = await t.db.pool.query(
    "SELECT email, traits FROM customers WHERE workspace_id = $1 ORDER BY email",
    [w.id],
  );
  assert.equal(rows.length, 2);
  assert.equal(rows[0].traits.name, "X");
  assert.equal(rows[0].traits.city, "Oslo");
});

test("bad rows are reported with their line numbers and reasons; the good rows are imported", async () => {
  const w = await ws();
  const path = fixture(
    [
      "user_id,event,timestamp,revenue,note", // line 1
      "u1,order_completed,2024-01-05 10:00:00,100.50,ok", // 2
      'u1,order_completed,2024-01-06 10:00:00,NaN,"two', // 3
      'lines"', // 4
      "u1,order_completed,2024-01-07 10:00:00,abc,x", // 5
      "u2,order_completed,2024-01-08 10:00:00,12,50,x", // 6: one field too many
      "u2,order_completed,not a date,12,x", // 7
      "u2,order_completed,2024-02-30 10:00:00,12,x", // 8: no such day
      ",order_completed,2024-01-09 10:00:00,12,x", // 9: no id
      "u2,order_completed,2024-01-10 10:00:00,Infinity,x", // 10
      "u2,order_completed,2024-01-10 10:00:00,1e999,x", // 11
      'u2,order_completed,2024-01-10 10:00:00,"1,5",x', // 12
      "u2,,2024-01-10 10:00:00,1,x", // 13: no event name
      "u2,order_completed,2999-01-01 00:00:00,1,future", // 14: rejected by the pipeline
      "", // 15: empty line, ignored
      "u3,order_completed,2024-01-11T10:00:00+03:00,20,ok", // 16
      "u3,order_completed,2024-01-12", // 17: too few fields
    ].join("\n"),
  );
  const s = await run(w, path, { kind: "events" });
  assert.equal(s.rowsRead, 14);
  assert.equal(s.rowsImported, 2);
  assert.equal(s.rejectedRows, 12);
  const byLine = new Map(s.errors.map((e) => [e.line, e.reason]));
  assert.deepEqual([...byLine.keys()], [3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17]);
  assert.match(byLine.get(3) ?? "", /^revenue: 'NaN' is not a number/);
  assert.match(byLine.get(5) ?? "", /^revenue: 'abc' is not a number/);
  assert.match(byLine.get(6) ?? "", /6 fields, the header has 5/);
  assert.match(byLine.get(7) ?? "", /^timestamp: 'not a date' is not a date-time/);
  assert.match(byLine.get(8) ?? "", /^timestamp: '2024-02-30 10:00:00' is not a date-time/);
  assert.match(byLine.get(9) ?? "", /no user id/);
  assert.match(byLine.get(10) ?? "", /'Infinity' is not a number/);
  assert.match(byLine.get(11) ?? "", /'1e999' is out of range/);
  assert.match(byLine.get(12) ?? "", /'1,5' is not a number \(use a dot/);
  assert.match(byLine.get(13) ?? "", /event name is empty/);
  assert.match(byLine.get(14) ?? "", /future/);
  assert.match(byLine.get(17) ?? "", /3 fields, the header has 5/);
  const u3 = await customer(w, "u3");
  assert.equal(u3.first_order_at.toISOString(), "2024-01-11T07:00:00.000Z", "the offset is applied");
  const tot = await totals(w);
  assert.deepEqual([tot.events, tot.orders, tot.revenue], [2, 2, "120.50"]);
});

test("a malformed quote is reported on its line; the rows before it are imported", async () => {
  const w = await ws();
  const path = fixture(
    'user_id,event,timestamp\nu1,a,2024-01-01\nu2,b,2024-01-02\nu3,"c,2024-01-03\nu4,d,2024-01-04\n',
  );
  const s = await run(w, path, { kind: "events" });
  assert.equal(s.rowsImported, 2);
  assert.equal(s.errors.length, 1);
  assert.equal(s.errors[0]?.line, 5);
  assert.match(s.errors[0]?.reason ?? "", /malformed CSV: Quote Not Closed/);
});

test("missing columns are named in a clear error, and a mapping to a column the file lacks is a usage error", async () => {
  const w = await ws();
  const noTime = fixture("user_id,event,revenue\nu1,order_completed,5\n");
  await assert.rejects(run(w, noTime, { kind: "events" }), (e: Error) => {
    assert.ok(e instanceof MissingColumnError);
    assert.match(e.message, /missing column 'timestamp'/);
    assert.match(e.message, /it has: user_id, event, revenue/);
    return true;
  });
  const noEvent = fixture("user_id,timestamp\nu1,2024-01-01\n");
  await assert.rejects(run(w, noEvent, { kind: "events" }), /missing column 'event'.*--event-name/);
  const s = await run(w, noEvent, { kind: "events", eventName: "signed_up" });
  assert.equal(s.rowsImported, 1);
  const noId = fixture("name,city\nAnna,Oslo\n");
  await assert.rejects(
    run(w, noId, { kind: "customers" }),
    /missing column: the file needs a user id column/,
  );
  const retail = fixture(
    "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,Country\n1,A,1,2011-01-01 10:00,1,UK\n",
  );
  await assert.rejects(
    run(w, retail, { kind: "events", preset: "online-retail" }),
    /missing column 'CustomerID' for the online-retail preset/,
  );
  await assert.rejects(
    run(w, noId, { kind: "customers", map: { Nickname: "userId" } }),
    (e: Error) =>
      e instanceof CsvMappingError && /names column 'Nickname', which the file does not have/.test(e.message),
  );
  await assert.rejects(run(w, noId, { kind: "customers", map: { name: "trait.x:money" } }), CsvMappingError);
  assert.equal((await totals(w)).customers, 1, "only the one good import stored anything");
});

test("a file that is not UTF-8 is rejected with the line of the first bad byte, and nothing is imported", async () => {
  const w = await ws();
  const latin1 = Buffer.concat([
    Buffer.from("user_id,name\nu1,Anna\nu2,Jos"),
    Buffer.from([0xe9]), // é in Windows-1252
    Buffer.from("\nu3,Zoe\n"),
  ]);
  for (const [path, what] of [
    [fixture(latin1), "plain"],
    [fixture(gzipSync(latin1), "latin1.csv.gz"), "gzip"],
  ] as const) {
    await assert.rejects(run(w, path, { kind: "customers" }), (e: Error) => {
      assert.ok(e instanceof CsvFileError, what);
      assert.match(
        e.message,
        /is not UTF-8 text: line 3 has an invalid byte \(byte 0xE9\); nothing was imported/,
      );
      assert.match(e.message, /iconv/);
      return true;
    });
  }
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("user_id\r\nu1\r\n", "utf16le")]);
  await assert.rejects(run(w, fixture(utf16), { kind: "customers" }), /is UTF-16 text/);
  await assert.rejects(
    run(w, fixture(Buffer.from("user_id\nu1\0\n")), { kind: "customers" }),
    /NUL byte on line 2/,
  );
  await assert.rejects(run(w, fixture(""), { kind: "customers" }), /is empty: no header row/);
  await assert.rejects(
    run(w, join(dir, "nope.csv"), { kind: "customers" }),
    /cannot read .*nope\.csv: no such file/,
  );
  await assert.rejects(
    run(w, fixture(gzipSync("user_id\nu1\n").subarray(0, 12)), { kind: "customers" }),
    /gzip data is damaged/,
  );
  assert.equal((await totals(w)).customers, 0);
  const fine = fixture(Buffer.from("\uFEFFuser_id;name\nu1;José\n")); // BOM and semicolons
  const s = await run(w, fine, { kind: "customers" });
  assert.equal(s.delimiter, ";");
  assert.equal((await customer(w, "u1")).traits.name, "José");
});

const EVENTS = [
  "user_id,event,timestamp,revenue,order_id",
  "u1,order_completed,2024-01-05 10:00:00,100.50,o1",
  "u1,order_completed,2024-02-05 10:00:00,49.50,o2",
  "u2,order_completed,2024-03-01 09:00:00,20,o3",
  "u2,order_refunded,2024-03-02 09:00:00,20,o3",
  "u3,page_viewed,2024-03-02 09:00:00,,",
].join("\n");

test("gzip is recognised by its content, whatever the file is called; a re-run stores nothing twice", async () => {
  const w = await ws();
  const gz = fixture(gzipSync(EVENTS), "events.csv"); // gzip without .gz in the name
  const first = await run(w, gz, { kind: "events" });
  assert.deepEqual(first.messages, { sent: 5, accepted: 5, duplicates: 0, rejected: 0 });
  const before = await totals(w);
  assert.deepEqual(before, { customers: 3, orders: 3, revenue: "150.00", events: 5 });
  const again = await run(w, gz, { kind: "events" });
  assert.equal(again.resumedAfterRow, 0, "a finished import is read again in full");
  assert.deepEqual(again.messages, { sent: 5, accepted: 0, duplicates: 5, rejected: 0 });
  const plain = await run(w, fixture(EVENTS), { kind: "events" }); // the same rows in another file
  assert.deepEqual(plain.messages, { sent: 5, accepted: 0, duplicates: 5, rejected: 0 });
  const mapped = await run(w, fixture(EVENTS), {
    kind: "events",
    map: { order_id: "property.order:string" },
  });
  assert.equal(mapped.messages.accepted, 0, "the same row mapped differently is still the same event");
  assert.deepEqual(await totals(w), before);
});

/** A file of orders: `customers` customers, `rows` orders, revenue 1.25 × row number. */
function ordersFile(rows: number, customers: number): { path: string; orders: number; revenue: string } {
  const lines = ["user_id,event,timestamp,revenue"];
  let cents = 0;
  for (let i = 1; i <= rows; i++) {
    const ts = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString();
    lines.push(`u${i % customers},order_completed,${ts},${(i * 1.25).toFixed(2)}`);
    cents += i * 125;
  }
  return { path: fixture(`${lines.join("\n")}\n`), orders: rows, revenue: (cents / 100).toFixed(2) };
}

test("an interrupted import resumes where it stopped and ends with exactly the right counts", async () => {
  const w = await ws();
  const f = ordersFile(3000, 40);
  const part = await run(w, f.path, { kind: "events", chunkSize: 100, limitRows: 1234 });
  assert.equal(part.complete, false);
  assert.equal(part.rowsRead, 1234);
  assert.equal((await totals(w)).events, 1234);

  // Stopped again, by a signal this time, from the progress callback.
  const abort = new AbortController();
  const second = await run(w, f.path, {
    kind: "events",
    chunkSize: 100,
    signal: abort.signal,
    onProgress: (p) => {
      if (p.rowsRead >= 2048) abort.abort();
    },
  });
  assert.equal(second.complete, false);
  assert.equal(second.resumedAfterRow, 1234);
  assert.equal(second.skippedRows["imported by an earlier, interrupted run"], 1234);
  assert.equal(second.messages.duplicates, 0, "the resumed run starts after the stored rows");

  const last = await run(w, f.path, { kind: "events", chunkSize: 100 });
  assert.equal(last.complete, true);
  assert.ok(last.resumedAfterRow >= 2048);
  assert.equal(last.rowsRead, 3000);
  assert.deepEqual(await totals(w), { customers: 40, orders: f.orders, revenue: f.revenue, events: 3000 });
});

test("losing the progress record (a kill between commit and bookkeeping) costs time, not correctness", async () => {
  const w = await ws();
  const f = ordersFile(700, 7);
  await run(w, f.path, { kind: "events", chunkSize: 50, limitRows: 333 });
  await t.db.pool.query("DELETE FROM import_progress WHERE workspace_id = $1", [w.id]);
  const s = await run(w, f.path, { kind: "events", chunkSize: 50 });
  assert.equal(s.resumedAfterRow, 0);
  assert.equal(s.messages.duplicates, 333);
  assert.equal(s.messages.accepted, 700 - 333);
  assert.deepEqual(await totals(w), { customers: 7, orders: 700, revenue: f.revenue, events: 700 });
  const restart = await run(w, f.path, { kind: "events", resume: false });
  assert.equal(restart.messages.accepted, 0);
});

async function exported(w: Workspace, format: "csv" | "jsonl"): Promise<string> {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  await exportCustomers(t.db, w.id, sink, { format, pageSize: 2 });
  return chunks.join("");
}

test("export: every customer once (keyset pages), CSV quoting, formula injection neutralised, and a round-trip", async () => {
  const w = await ws();
  const src = fixture(
    [
      "user_id,email,phone,name,note,email_consent",
      'u1,a@example.com,+4915112345678,"Smith, Anna","said ""hi""",yes',
      "=1+2,b@example.com,,@SUM(A1),-cmd,no",
      'u3,,+442071838750,Ünal,"two\nlines",',
      "u4,d@example.com,,-5,+7,",
      "u5,e@example.com,,Eve,,yes",
    ].join("\n"),
  );
  await run(w, src, { kind: "customers" });
  await run(w, fixture(EVENTS), { kind: "events" });
  const csv = await exported(w, "csv");
  const lines = csv.trimEnd().split("\n");
  assert.equal(
    lines[0],
    "id,user_id,email,phone,telegram_chat_id,timezone,locale,preferred_channel,orders,revenue,aov,first_order_at,last_order_at,first_seen_at,last_seen_at,consents,traits",
  );
  assert.ok(
    lines.some((l) => l.split(",")[1] === "'=1+2"),
    "a user id starting with = is neutralised",
  );
  assert.ok(
    lines.some((l) => l.includes(",u1,a@example.com,+4915112345678,")),
    "phone numbers are left alone",
  );
  const jsonl = (await exported(w, "jsonl"))
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(jsonl.length, 6, "5 customers of the file and u2 of the events");
  const u1 = jsonl.find((c) => c.user_id === "u1");
  assert.equal(u1.orders, 2);
  assert.equal(u1.revenue, 150);
  assert.equal(u1.aov, 75);
  assert.equal(u1.traits.name, "Smith, Anna");
  assert.equal(u1.consents.email.state, "opted_in");
  assert.equal(new Set(jsonl.map((c) => c.id)).size, jsonl.length, "no customer twice across pages");

  // Round-trip: import the CSV export into a fresh workspace; contact points, traits and consents survive.
  const w2 = await ws();
  const back = await run(w2, fixture(csv), { kind: "customers" });
  assert.equal(back.rejectedRows, 0, JSON.stringify(back.errors));
  assert.deepEqual(back.ignoredColumns, [
    "id",
    "orders",
    "revenue",
    "aov",
    "first_order_at",
    "last_order_at",
    "first_seen_at",
    "last_seen_at",
  ]);
  const again = (await exported(w2, "jsonl"))
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  const strip = (c: any) => ({
    user_id: c.user_id,
    email: c.email,
    phone: c.phone,
    traits: c.traits,
    consents: Object.fromEntries(Object.entries(c.consents).map(([k, v]: [string, any]) => [k, v.state])),
  });
  const byUser = (a: any, b: any) => String(a.user_id).localeCompare(String(b.user_id));
  assert.deepEqual(again.map(strip).sort(byUser), jsonl.map(strip).sort(byUser));
  assert.ok(
    again.some((c) => c.user_id === "=1+2"),
    "the apostrophe is removed again on import",
  );
});

// ---- the online-retail preset on the real file ---------------------------------------------------------------

async function firstLines(path: string, n: number): Promise<string[]> {
  const rl = createInterface({
    input: createReadStream(path).pipe(createGunzip()),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  const out: string[] = [];
  for await (const line of rl) {
    out.push(line);
    if (out.length >= n) break;
  }
  rl.close();
  return out;
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === ",") {
      out.push(cur);
      cur = "";
    } else if (c === '"') quoted = true;
    else cur += c;
  }
  out.push(cur);
  return out;
}

/** Exact decimal → units of 1/10,000 as a bigint. */
function units(s: string): bigint {
  const neg = s.startsWith("-");
  const [i = "0", f = ""] = s.replace(/^[-+]/, "").split(".");
  const v = BigInt(i) * 10_000n + BigInt(f.padEnd(4, "0").slice(0, 4) || "0");
  return neg ? -v : v;
}

/** Cents, rounded half away from zero. */
function cents(u: bigint): bigint {
  const a = u < 0n ? -u : u;
  const c = (a + 50n) / 100n;
  return u < 0n ? -c : c;
}

test("online-retail preset: the first 5,000 lines of the real file give the orders, refunds and revenue computed independently", {
  skip: !existsSync(RETAIL) && "the Online Retail file is absent",
}, async () => {
  const lines = await firstLines(RETAIL, 5000);
  const path = fixture(gzipSync(`${lines.join("\n")}\n`), "retail-5000.csv.gz");
  const header = splitCsv(lines[0] as string);
  const col = (name: string) => header.indexOf(name);
  const invoices = new Map<string, { customer: string; sum: bigint }>();
  let noCustomer = 0;
  for (const line of lines.slice(1)) {
    const f = splitCsv(line);
    const customer = f[col("CustomerID")] ?? "";
    if (customer === "") {
      noCustomer++;
      continue;
    }
    const no = f[col("InvoiceNo")] as string;
    const inv = invoices.get(no) ?? { customer, sum: 0n };
    inv.sum += BigInt(f[col("Quantity")] as string) * units(f[col("UnitPrice")] as string);
    invoices.set(no, inv);
  }
  let orders = 0;
  let refunds = 0;
  let revenueCents = 0n;
  for (const [no, inv] of invoices) {
    const c = cents(inv.sum);
    if (no.startsWith("C")) {
      refunds++;
      revenueCents -= c < 0n ? -c : c;
    } else {
      orders++;
      revenueCents += c;
    }
  }
  const customers = new Set([...invoices.values()].map((i) => i.customer)).size;
  assert.ok(orders > 200 && refunds > 10, `a meaningful sample: ${orders} orders, ${refunds} refunds`);

  const w = await ws();
  const s = await run(w, path, { kind: "events", preset: "online-retail", chunkSize: 100 });
  assert.equal(s.rowsRead, 4999);
  assert.equal(s.rejectedRows, 0);
  assert.deepEqual(s.skippedRows, { "no CustomerID": noCustomer });
  assert.deepEqual(s.byEvent, { identify: customers, order_completed: orders, order_refunded: refunds });
  assert.equal(s.rowsImported, 4999 - noCustomer);
  const tot = await totals(w);
  assert.equal(tot.customers, customers);
  assert.equal(tot.orders, orders);
  assert.equal(tot.revenue, (Number(revenueCents) / 100).toFixed(2));
  const { rows } = await t.db.pool.query(
    `SELECT name, count(*)::int AS n, sum((properties->>'revenue')::numeric)::text AS revenue
       FROM events WHERE workspace_id = $1 AND type = 'track' GROUP BY name ORDER BY name`,
    [w.id],
  );
  assert.deepEqual(
    rows.map((r) => [r.name, r.n]),
    [
      ["order_completed", orders],
      ["order_refunded", refunds],
    ],
  );
  const first = await t.db.pool.query(
    `SELECT properties, occurred_at FROM events WHERE workspace_id = $1 AND message_id = 'import:invoice:536365'`,
    [w.id],
  );
  assert.equal(first.rows[0].occurred_at.toISOString(), "2010-12-01T08:26:00.000Z");
  assert.deepEqual(first.rows[0].properties, {
    invoice: "536365",
    revenue: 139.12,
    currency: "GBP",
    items: 7,
    quantity: 40,
    products: ["85123A", "71053", "84406B", "84029G", "84029E", "22752", "21730"],
    country: "United Kingdom",
  });
  const c = await customer(w, "17850");
  assert.equal(c.traits.country, "United Kingdom");

  const again = await run(w, path, { kind: "events", preset: "online-retail" });
  assert.equal(again.messages.accepted, 0);
  assert.equal(again.messages.duplicates, customers + orders + refunds);
  assert.deepEqual(await totals(w), tot);
});

test("online-retail preset: interleaved invoices, '.0' customer ids, and garbage numbers", async () => {
  const w = await ws();
  const path = fixture(
    [
      "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
      "1001,A,Thing,2,2011-01-01 10:00:00,1.10,100.0,France", // 2
      "1002,B,Other,1,2011-01-01 10:01:00,5.00,200,Spain", // 3
      "1001,C,Thing,3,2011-01-01 10:01:00,0.333,100.0,France", // 4: back to 1001
      "C1003,A,Thing,-1,2011-01-02 10:00:00,1.10,100,France", // 5
      "1004,A,Thing,abc,2011-01-03 10:00:00,1.10,200,Spain", // 6: garbage quantity
      "1004,B,Thing,1,2011-01-03 10:00:00,2.00,200,Spain", // 7: same invoice, good row
      "1005,A,Thing,1,2011-01-03 11:00:00,NaN,200,Spain", // 8
      "1006,A,Thing,1,2011-13-03 11:00:00,1,200,Spain", // 9: month 13
      "1007,A,No customer,1,2011-01-03 11:00:00,1,,Spain", // 10
    ].join("\n"),
  );
  const s = await run(w, path, { kind: "events", preset: "online-retail" });
  assert.deepEqual(s.byEvent, { identify: 2, order_completed: 2, order_refunded: 1 });
  assert.deepEqual(s.skippedRows, { "no CustomerID": 1 });
  assert.deepEqual(
    s.errors.map((e) => [e.line, e.reason.replace(/:.*/, "")]),
    [
      [6, "Quantity"],
      [6, "invoice 1004 not imported"],
      [8, "UnitPrice"],
      [9, "InvoiceDate"],
    ],
  );
  assert.equal(s.rejectedRows, 4);
  const c100 = await customer(w, "100");
  assert.equal(c100.orders, 1);
  assert.equal(Number(c100.revenue), 2.1, "2×1.10 + 3×0.333 = 3.199 → 3.20, minus the 1.10 refund");
  const c200 = await customer(w, "200");
  assert.equal(c200.traits.country, "Spain");
  assert.equal(Number(c200.revenue), 5);
});

// ---- the command ---------------------------------------------------------------------------------------------

function cliEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TACT_DATA_DIR: dataDir, LOG_LEVEL: "silent" };
  delete env.DATABASE_URL;
  return t.url ? { ...env, DATABASE_URL: t.url } : env;
}

const tact = (env: NodeJS.ProcessEnv, ...args: string[]) => runTact(dir, env, ...args);

test("tact import/export: JSON summary, exit codes 0/1/2, and a process killed mid-import finishes on a re-run", async (ctx) => {
  const env = cliEnv(mkdtempSync(join(dir, "data-")));
  const name = `cli${Date.now().toString(36)}`;
  assert.equal(tact(env, "workspaces", "create", name).code, 0);

  const retail = fixture(
    [
      "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
      "5001,A,x,2,2011-05-01 10:00:00,2.50,300,Norway",
      "5001,B,x,1,2011-05-01 10:00:00,1.00,300,Norway",
      "5002,A,x,1,2011-05-02 10:00:00,oops,300,Norway",
      "5003,A,x,1,2011-05-02 10:00:00,1,,Norway",
    ].join("\n"),
  );
  const r = tact(env, "import", "events", retail, "--workspace", name, "--preset", "online-retail", "--json");
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.complete, true);
  assert.equal(summary.rowsRead, 4);
  assert.deepEqual(summary.byEvent, { identify: 1, order_completed: 1 });
  assert.deepEqual(summary.errors, [{ line: 4, reason: "UnitPrice: 'oops' is not a number" }]);
  assert.deepEqual(summary.skippedRows, { "no CustomerID": 1 });

  const text = tact(env, "import", "events", retail, "--workspace", name, "--preset", "online-retail");
  assert.equal(text.code, 0);
  assert.match(text.stdout, /messages +0 stored, 2 already imported before, 0 rejected/);
  assert.match(text.stdout, /line 4: UnitPrice: 'oops' is not a number/);

  const bad = tact(
    env,
    "import",
    "customers",
    fixture(Buffer.from([0x69, 0x64, 0x0a, 0xff, 0x0a])),
    "--workspace",
    name,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /not UTF-8 text: line 2/);
  const usage = tact(env, "import", "customers", retail, "--workspace", name, "--map", "Nope=userId");
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /names column 'Nope'/);
  assert.equal(tact(env, "import", "customers", retail, "--workspace", name, "--map", "oops").code, 2);

  const mapping = fixture(
    JSON.stringify({ columns: { Kunde: "userId", Mail: "email", Alter: "trait.age:integer" } }),
    "map.json",
  );
  const people = fixture(
    "Kunde;Mail;Alter;Stadt\nk1;k1@example.com;41;Bonn\nk2;k2@example.com;vierzig;Ulm\n",
  );
  const mapped = tact(
    env,
    "import",
    "customers",
    people,
    "--workspace",
    name,
    "--mapping",
    mapping,
    "--json",
  );
  assert.equal(mapped.code, 0, mapped.stderr);
  const ms = JSON.parse(mapped.stdout);
  assert.deepEqual(ms.columns, { Kunde: "userId", Mail: "email", Alter: "age:integer", Stadt: "Stadt" });
  assert.deepEqual(ms.errors, [{ line: 3, reason: "Alter: 'vierzig' is not a number" }]);
  assert.equal(ms.delimiter, ";");
  const brokenMapping = fixture("{ not json", "broken.json");
  assert.equal(
    tact(env, "import", "customers", people, "--workspace", name, "--mapping", brokenMapping).code,
    2,
  );

  // Killed with SIGKILL part-way (wherever that lands), then run again: exactly the right totals.
  const f = ordersFile(10_000, 500);
  const args = [
    join(ROOT, "bin/tact.js"),
    "import",
    "events",
    f.path,
    "--workspace",
    name,
    "--chunk-size",
    "100",
  ];
  const firstCommit = async (): Promise<void> => {
    if (!t.url) return new Promise<void>((res) => setTimeout(res, 1500));
    for (let i = 0; i < 400; i++) {
      const { rows } = await t.db.pool.query(
        `SELECT p.rows_done FROM import_progress p JOIN workspaces w USING (workspace_id)
          WHERE w.name = $1 AND p.finished_at IS NULL`,
        [name],
      );
      if (rows.some((r) => Number(r.rows_done) > 0)) return;
      await new Promise((res) => setTimeout(res, 25));
    }
  };
  const child = spawn(process.execPath, args, { env, cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  // The command says "importing …" on stderr when it starts reading. On PostgreSQL the kill comes as soon as a
  // chunk is committed; the embedded database cannot be read from here while the command holds it, so a moment.
  await new Promise<void>((res) => {
    child.stderr.on("data", (d: Buffer) => {
      if (String(d).includes("importing ")) void firstCommit().then(res);
    });
    child.on("exit", () => res());
  });
  child.kill("SIGKILL");
  await exited;
  const rerun = tact(env, "import", "events", f.path, "--workspace", name, "--chunk-size", "1000", "--json");
  assert.equal(rerun.code, 0, rerun.stderr);
  const rs = JSON.parse(rerun.stdout);
  assert.equal(rs.complete, true);
  assert.equal(rs.rowsRead, 10_000);
  ctx.diagnostic(
    `killed run: ${rs.resumedAfterRow} rows resumed past, ${rs.messages.duplicates} duplicates, ${rs.messages.accepted} stored by the re-run`,
  );

  const out = join(dir, "customers.jsonl.gz");
  const exp = tact(env, "export", "customers", "--workspace", name, "--format", "jsonl", "-o", out);
  assert.equal(exp.code, 0, exp.stderr);
  const rows = (await firstLinesPlain(out)).map((l) => JSON.parse(l));
  const orders = rows.reduce((a, c) => a + c.orders, 0);
  const revenue = rows.reduce((a, c) => a + Math.round(c.revenue * 100), 0);
  assert.equal(orders, 10_000 + 1, "every order once, plus the preset's one");
  assert.equal((revenue / 100).toFixed(2), (Number(f.revenue) + 6).toFixed(2));
});

async function firstLinesPlain(gzPath: string): Promise<string[]> {
  const rl = createInterface({ input: createReadStream(gzPath).pipe(createGunzip()) });
  const out: string[] = [];
  for await (const line of rl) if (line) out.push(line);
  return out;
}
