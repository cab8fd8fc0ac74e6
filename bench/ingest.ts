// Ingestion benchmark: realistic mixed Segment traffic POSTed to /v1/batch of the real server (a child process),
// beside its limit measured in the same run: a raw COPY of the same event rows into the same `events` table of a
// fresh database.
//
// Small scale: 100,000 events of ~10,000 users; full scale: 1,000,000 events of ~100,000 users. Batches of 500,
// 8 concurrent keep-alive clients, HTTP Basic write key. The traffic is generated from a seeded PRNG before the
// clock starts; only the timestamps follow the time of the run.
//
// Knobs for studying the server (the defaults are the benchmark): BENCH_INGEST_CLIENTS (8), BENCH_INGEST_SESSIONS
// (concurrently active visitors, users/4), BENCH_SERVER_NODE_ARGS (node options for the server only, e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/prof").
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { createKey, createWorkspace } from "../src/store/workspaces.ts";
import type { BenchFigure } from "./figure.ts";
import {
  backendCpu,
  checkpoint,
  cpuSince,
  freshDatabase,
  machineBusyCores,
  machineCores,
  machineTicks,
  peakRss,
  procCpuSeconds,
  quantile,
  startTact,
  type TactProcess,
  type Target,
} from "./support.ts";
import {
  BATCH_SIZE,
  type Batch,
  type GenOptions,
  generateBatches,
  generateEvents,
  type Msg,
  round,
} from "./traffic.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const CLIENTS = Number(process.env.BENCH_INGEST_CLIENTS) || 8;
const WARMUP_BATCHES = 16;
const SEED = 20_240_601;
const TARGET_EVENTS_PER_S = { postgres: 50_000, pglite: 15_000 } as const;
const TARGET_RSS_MB = 1024;
const COPY_COLUMNS =
  "workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties, context";

const log = (msg: string) => process.stderr.write(`[ingest] ${msg}\n`);

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  const events = opts.scale === "full" ? 1_000_000 : 100_000;
  const users = events / 10;
  const backend = opts.backend;
  if (backend === "postgres" && !opts.databaseUrl)
    throw new Error("the postgres backend needs a databaseUrl");
  // Timestamps: the hour before the run, so they land in the partitions migrate() creates.
  const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 2 * 3600_000;
  // Concurrently active visitors: a quarter of all. Fewer make one visitor's events meet in concurrent batches
  // more often (BENCH_INGEST_SESSIONS overrides, to study that contention).
  const sessions = Number(process.env.BENCH_INGEST_SESSIONS) || Math.max(50, Math.round(users / 4));
  const gen: GenOptions = { seed: SEED, events, users, sessions, t0, spanMs: 3600_000 };

  // ---- 1. the server under load ----------------------------------------------------------------------------
  log(`${backend}/${opts.scale}: generating ${events} events of ~${users} users`);
  const traffic = generateBatches(gen);
  log(
    `${traffic.batches.length} batches, ${(traffic.bytes / 1e6).toFixed(0)} MB, ` +
      `${Math.round(traffic.bytes / events)} bytes/event, ${traffic.distinctUsers} distinct users, ` +
      `mix ${JSON.stringify(traffic.mix)}`,
  );

  const target = await freshDatabase(backend, opts.databaseUrl);
  let server: TactProcess | undefined;
  let load: LoadResult;
  let stored: StoredCounts;
  let peakRssMb: number;
  let serverCpuS: number;
  let dbCpuS = Number.NaN;
  let appliedSeconds = Number.NaN;
  let appliedServerCpuS = Number.NaN;
  let appliedDbCpuS = Number.NaN;
  let rollbacks = Number.NaN;
  let commits = Number.NaN;
  let dbAutovacuum = "?";
  try {
    const { workspaceId, writeKey, autovacuum } = await prepare(target);
    dbAutovacuum = autovacuum;
    await checkpoint(target);
    // BENCH_SERVER_NODE_ARGS are node options for the server only, e.g. "--cpu-prof --cpu-prof-dir=tmp/prof".
    const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
    server = await startTact(target, { nodeArgs, log });
    log(`server pid ${server.pid} on port ${server.port}`);
    const auth = `Basic ${Buffer.from(`${writeKey}:`).toString("base64")}`;
    const url = `http://127.0.0.1:${server.port}/v1/batch`;
    const warm = await sendAll(url, auth, traffic.batches.slice(0, WARMUP_BATCHES)); // JIT, pools, caches
    const cpu0 = procCpuSeconds(server.pid);
    const dbCpu0 = await backendCpu(target.url);
    const xact0 = await transactions(target);
    const machine0 = machineTicks();
    const selfCpu0 = process.cpuUsage();
    load = await sendAll(url, auth, traffic.batches.slice(WARMUP_BATCHES));
    serverCpuS = procCpuSeconds(server.pid) - cpu0;
    load.machineBusyCores = machineBusyCores(machine0, machineTicks());
    const selfCpu = process.cpuUsage(selfCpu0);
    load.clientCpuS = (selfCpu.user + selfCpu.system) / 1e6;
    dbCpuS = cpuSince(dbCpu0, await backendCpu(target.url));
    // Accepted is committed to the ingestion log; applied is in customers, identities and events.
    const backlog = await backlogAt(server.port);
    appliedSeconds = load.seconds + (await waitApplied(server.port));
    log(
      `${backlog} events waited in the log at the end of the load; all applied ${appliedSeconds.toFixed(1)} s after the start`,
    );
    appliedServerCpuS = procCpuSeconds(server.pid) - cpu0;
    appliedDbCpuS = cpuSince(dbCpu0, await backendCpu(target.url));
    if (target.url) await new Promise((r) => setTimeout(r, 2000)); // backends flush their statistics when idle
    const xact1 = await transactions(target);
    rollbacks = xact1.rollbacks - xact0.rollbacks;
    commits = xact1.commits - xact0.commits;
    peakRssMb = peakRss(server.pid);
    await server.stop();
    server = undefined;
    load.failures.push(...warm.failures);
    load.serverErrors.push(...warm.serverErrors);
    if (load.failures.length > 0) {
      throw new Error(
        `${load.failures.length} of ${load.latenciesMs.length} requests failed; first: ${load.failures.slice(0, 3).join(" | ")}`,
      );
    }
    stored = await countStored(target, workspaceId);
    if (stored.events !== events) throw new Error(`sent ${events} events but ${stored.events} are stored`);
    log(
      `stored ${stored.events} events, ${stored.customers} customers, ${stored.identities} identities ` +
        `(${traffic.distinctUsers} distinct users sent)`,
    );
  } finally {
    await server?.stop();
    await target.drop();
  }
  traffic.batches.length = 0; // free the bodies before the COPY rows are built

  // ---- 2. the limit: raw COPY of the same rows into a fresh database --------------------------------------
  const copy = await copyLimit(backend, opts.databaseUrl, gen);

  const eventsPerS = load.events / load.seconds;
  const lat = [...load.latenciesMs].sort((a, b) => a - b);
  const common = { backend, scale: opts.scale };
  return [
    {
      bench: "ingest",
      metric: "events_per_s",
      value: round(eventsPerS),
      unit: "events/s",
      ...common,
      target: TARGET_EVENTS_PER_S[backend],
      meets_target: eventsPerS >= TARGET_EVENTS_PER_S[backend],
      ratio_to_copy: round(eventsPerS / copy.rowsPerS, 3),
      events: load.events,
      warmup_events: events - load.events,
      seconds: round(load.seconds, 2),
      batch_size: BATCH_SIZE,
      clients: CLIENTS,
      sessions: gen.sessions,
      http_5xx_retried: load.serverErrors.length,
      requests_answered_before_applied: load.queued,
      ...(backend === "postgres" ? { db_commits: commits, db_rollbacks: rollbacks } : {}),
      bytes_per_event: Math.round(traffic.bytes / events),
      distinct_users: traffic.distinctUsers,
      customers: stored.customers,
      server_cpu_s: round(serverCpuS, 1),
      ...(backend === "postgres" ? { db_cpu_s: round(dbCpuS, 1) } : {}),
      events_per_cpu_s: round(load.events / (serverCpuS + (backend === "postgres" ? dbCpuS : 0))),
      client_cpu_s: round(load.clientCpuS, 1),
      machine_busy_cores: round(load.machineBusyCores, 2),
      machine_cores: machineCores(),
      db_autovacuum: dbAutovacuum,
    },
    {
      bench: "ingest",
      metric: "applied_events_per_s",
      value: round(load.events / appliedSeconds),
      unit: "events/s",
      ...common,
      note: "from the first request until every event is applied to customers, identities and events",
      seconds: round(appliedSeconds, 2),
      server_cpu_s: round(appliedServerCpuS, 1),
      ...(backend === "postgres" ? { db_cpu_s: round(appliedDbCpuS, 1) } : {}),
      events_per_cpu_s: round(
        load.events / (appliedServerCpuS + (backend === "postgres" ? appliedDbCpuS : 0)),
      ),
    },
    {
      bench: "ingest",
      metric: "request_latency_p50",
      value: round(quantile(lat, 0.5), 1),
      unit: "ms",
      ...common,
      requests: lat.length,
      events_per_request: BATCH_SIZE,
    },
    {
      bench: "ingest",
      metric: "request_latency_p99",
      value: round(quantile(lat, 0.99), 1),
      unit: "ms",
      ...common,
      requests: lat.length,
      max_ms: round(lat[lat.length - 1] ?? 0, 1),
    },
    {
      bench: "ingest",
      metric: "server_peak_rss",
      value: round(peakRssMb, 1),
      unit: "MB",
      ...common,
      target: TARGET_RSS_MB,
      meets_target: peakRssMb < TARGET_RSS_MB,
      note: backend === "pglite" ? "includes the embedded database" : "the node process only",
    },
    {
      bench: "ingest",
      metric: "copy_rows_per_s",
      value: round(copy.rowsPerS),
      unit: "rows/s",
      ...common,
      rows: copy.rows,
      seconds: round(copy.seconds, 2),
      method:
        backend === "pglite"
          ? "COPY events FROM '/dev/blob' on an in-process PGlite"
          : "COPY events FROM STDIN (pg-copy-streams, one connection)",
      note: "the limit for events_per_s: the same event rows into the same table of a fresh database",
    },
  ];
}

// ---- databases -------------------------------------------------------------------------------------------------

function openTarget(t: Target) {
  return t.url ? openDb({ databaseUrl: t.url, poolSize: 2 }) : openDb({ dataDir: t.dataDir as string });
}

async function prepare(t: Target): Promise<{ workspaceId: number; writeKey: string; autovacuum: string }> {
  const db = await openTarget(t);
  try {
    await migrate(db);
    const ws = await createWorkspace(db, "bench");
    const key = await createKey(db, "bench", "write");
    // PGlite runs PostgreSQL single-user: whatever the setting says, no autovacuum (nor auto-analyze) runs.
    const { rows } = await db.pool.query<{ autovacuum: string }>("SHOW autovacuum");
    const autovacuum = t.url ? (rows[0]?.autovacuum ?? "?") : "none (single-user)";
    return { workspaceId: ws.id, writeKey: key.key, autovacuum };
  } finally {
    await db.close();
  }
}

interface StoredCounts {
  events: number;
  customers: number;
  identities: number;
}

async function countStored(t: Target, workspaceId: number): Promise<StoredCounts> {
  const db = await openTarget(t);
  try {
    const { rows } = await db.pool.query<{ events: string; customers: string; identities: string }>(
      `SELECT (SELECT count(*) FROM events WHERE workspace_id = $1) AS events,
              (SELECT count(*) FROM customers WHERE workspace_id = $1) AS customers,
              (SELECT count(*) FROM identities WHERE workspace_id = $1) AS identities`,
      [workspaceId],
    );
    const r = rows[0];
    return { events: Number(r?.events), customers: Number(r?.customers), identities: Number(r?.identities) };
  } finally {
    await db.close();
  }
}

/** Committed and rolled-back transactions of the bench database so far (PostgreSQL only). */
async function transactions(t: Target): Promise<{ commits: number; rollbacks: number }> {
  if (!t.url) return { commits: Number.NaN, rollbacks: Number.NaN };
  const c = new pg.Client({ connectionString: t.url });
  await c.connect();
  try {
    await c.query("SELECT pg_stat_clear_snapshot()");
    const { rows } = await c.query<{ xact_commit: string; xact_rollback: string }>(
      "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()",
    );
    return { commits: Number(rows[0]?.xact_commit), rollbacks: Number(rows[0]?.xact_rollback) };
  } finally {
    await c.end();
  }
}

// ---- the load ----------------------------------------------------------------------------------------------

interface LoadResult {
  events: number;
  seconds: number;
  latenciesMs: number[];
  /** requests answered once logged, before their events were applied */
  queued: number;
  failures: string[];
  serverErrors: string[];
  clientCpuS: number;
  machineBusyCores: number;
}

const SENT_AT_OFFSET = '{"sentAt":"'.length;

/** Messages accepted and not yet applied, from the server's /metrics. */
async function backlogAt(port: number): Promise<number> {
  let text = "";
  for (let attempt = 1; ; attempt++) {
    try {
      text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      break;
    } catch (err) {
      // a keep-alive connection the server closed as it was reused: ask again
      if (attempt >= 3) throw err;
      log(
        `/metrics: ${(err as Error).message} (${String((err as { cause?: unknown }).cause)}); asking again`,
      );
    }
  }
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("tact_queue_ingest_messages{")) total += Number(line.split(" ").pop());
  }
  return total;
}

/** Waits until the ingestion log is empty; returns the seconds waited. */
async function waitApplied(port: number): Promise<number> {
  const start = performance.now();
  // a scrape costs the database a few milliseconds: once a second keeps the measurement out of the measured
  while ((await backlogAt(port)) > 0) await new Promise((r) => setTimeout(r, 1000));
  return (performance.now() - start) / 1000;
}

async function sendAll(url: string, auth: string, batches: Batch[]): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const failures: string[] = [];
  const serverErrors: string[] = [];
  let next = 0;
  let events = 0;
  let queued = 0;
  const worker = async () => {
    for (let i = next++; i < batches.length; i = next++) {
      const b = batches[i] as Batch;
      // A 5xx or a lost connection is retried, as the Segment SDKs do (the server applied nothing); anything
      // else that is not a full acceptance is a failure of the run.
      for (let attempt = 1; ; attempt++) {
        b.body.write(new Date().toISOString(), SENT_AT_OFFSET, "latin1");
        const start = performance.now();
        let status = 0;
        let text = "";
        try {
          const res = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: auth },
            body: b.body as Uint8Array<ArrayBuffer>,
          });
          status = res.status;
          text = await res.text();
        } catch (err) {
          text = (err as Error).message;
        }
        latenciesMs.push(performance.now() - start);
        if (status === 0 || status >= 500) {
          serverErrors.push(
            `batch ${i} attempt ${attempt}: ${status || "no response"} ${text.slice(0, 200)}`,
          );
          if (attempt < 4) {
            await new Promise((r) => setTimeout(r, 200 * attempt));
            continue;
          }
          failures.push(`batch ${i}: gave up after ${attempt} attempts: ${status} ${text.slice(0, 300)}`);
          break;
        }
        if (status !== 200) {
          failures.push(`batch ${i}: HTTP ${status} ${text.slice(0, 300)}`);
          break;
        }
        const r = JSON.parse(text) as {
          accepted: number;
          duplicates: number;
          rejected: unknown[];
          queued: boolean;
        };
        if (r.queued) queued++;
        if (r.rejected.length > 0 || r.accepted !== b.events) {
          failures.push(`batch ${i}: accepted ${r.accepted}/${b.events}, ${text.slice(0, 300)}`);
        }
        events += r.accepted;
        break;
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, worker));
  const seconds = (performance.now() - start) / 1000;
  if (serverErrors.length > 0) {
    log(`${serverErrors.length} requests answered 5xx and were retried; first: ${serverErrors[0]}`);
  }
  return {
    events,
    seconds,
    latenciesMs,
    queued,
    failures,
    serverErrors,
    clientCpuS: 0,
    machineBusyCores: 0,
  };
}

// ---- the limit: COPY ---------------------------------------------------------------------------------------

async function copyLimit(
  backend: "postgres" | "pglite",
  adminUrl: string | undefined,
  gen: GenOptions,
): Promise<{ rows: number; seconds: number; rowsPerS: number }> {
  const target = await freshDatabase(backend, adminUrl);
  try {
    const { workspaceId } = await prepare(target);
    const db = await openTarget(target);
    try {
      await ensureEventPartitions(db, [new Date(gen.t0), new Date(gen.t0 + gen.spanMs)]);
    } finally {
      await db.close();
    }
    log(`${backend}: building COPY rows`);
    const chunks = copyChunks(gen, workspaceId, backend === "pglite" ? 20_000 : 2_000);
    const rows = gen.events;
    let seconds: number;
    if (target.url) {
      await checkpoint(target);
      const client = new pg.Client({ connectionString: target.url });
      await client.connect();
      try {
        const start = performance.now();
        await new Promise<void>((resolve, reject) => {
          const stream = client.query(copyFrom(`COPY events (${COPY_COLUMNS}) FROM STDIN`));
          stream.on("error", reject);
          stream.on("finish", () => resolve());
          let i = 0;
          const write = () => {
            while (i < chunks.length) {
              if (!stream.write(chunks[i++])) {
                stream.once("drain", write);
                return;
              }
            }
            stream.end();
          };
          write();
        });
        seconds = (performance.now() - start) / 1000;
        const { rows: c } = await client.query<{ n: string }>("SELECT count(*) AS n FROM events");
        if (Number(c[0]?.n) !== rows) throw new Error(`COPY stored ${c[0]?.n} rows of ${rows}`);
      } finally {
        await client.end();
      }
    } else {
      const blobs = chunks.map((c) => new Blob([c as Uint8Array<ArrayBuffer>]));
      chunks.length = 0;
      const lite = new PGlite(join(target.dataDir as string, "pgdata"));
      await lite.waitReady;
      try {
        const start = performance.now();
        for (const blob of blobs) {
          await lite.query(`COPY events (${COPY_COLUMNS}) FROM '/dev/blob'`, [], { blob });
        }
        seconds = (performance.now() - start) / 1000;
        const res = await lite.query<{ n: number }>("SELECT count(*)::int AS n FROM events");
        if (res.rows[0]?.n !== rows) throw new Error(`COPY stored ${res.rows[0]?.n} rows of ${rows}`);
      } finally {
        await lite.close();
      }
    }
    log(`${backend}: COPY ${rows} rows in ${seconds.toFixed(1)} s`);
    return { rows, seconds, rowsPerS: rows / seconds };
  } finally {
    await target.drop();
  }
}

/** The event rows as the server stores them, in COPY text format, `rowsPerChunk` rows per buffer. */
function copyChunks(gen: GenOptions, workspaceId: number, rowsPerChunk: number): Buffer[] {
  const chunks: Buffer[] = [];
  let lines: string[] = [];
  const receivedAt = new Date(gen.t0 + gen.spanMs).toISOString();
  generateEvents(gen, (e, userIndex) => {
    const m = e as Msg;
    const name =
      m.type === "track" ? (m.event as string) : m.type === "page" ? ((m.name as string) ?? null) : null;
    const props = m.type === "identify" ? m.traits : m.properties;
    lines.push(
      [
        String(workspaceId),
        String(userIndex + 1),
        copyText(m.messageId as string),
        m.type as string,
        name === null ? "\\N" : copyText(name),
        m.timestamp as string,
        receivedAt,
        copyText(JSON.stringify(props ?? {})),
        m.context ? copyText(JSON.stringify(m.context)) : "\\N",
      ].join("\t"),
    );
    if (lines.length === rowsPerChunk) {
      chunks.push(Buffer.from(`${lines.join("\n")}\n`));
      lines = [];
    }
  });
  if (lines.length > 0) chunks.push(Buffer.from(`${lines.join("\n")}\n`));
  return chunks;
}

function copyText(s: string): string {
  return /[\\\t\n\r]/.test(s)
    ? s.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r")
    : s;
}
