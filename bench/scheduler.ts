// Scheduler benchmark: Tact's queue of due journeys beside pg-boss 10 doing the same number of delayed jobs on the
// same PostgreSQL (PostgreSQL only: pg-boss does not run on PGlite, so on PGlite this bench prints nothing).
//
// Tact: N customers wait in a scenario's `wait: 1h` step (rows of `scenario_entries` due at T, written set-wise as
// a scheduled occurrence enters its audience); from T, the engine takes every one up (FOR UPDATE SKIP LOCKED,
// batches of 200) and advances it past the wait: an `exit_if` that does not hold, then the journey completes. No
// email: the figure is the scheduler's. Measured three ways: `Engine.runOnce(T)` in-process on a virtual clock (no
// polling), then 1 and 2 real `tact worker` processes on the system clock (they poll every second when idle).
// pg-boss: N jobs inserted with `startAfter` T in its own schema of the same database, then taken up by 1 and 2
// worker processes, each one loop of `fetch` (batches of 200) + `complete` that polls every second when idle — the
// same shape as a Tact worker — and, as the library's own worker, `work()` with batchSize 200 and its shortest
// polling interval (0.5 s), which waits out the interval after every batch by design, so it takes at most 400
// jobs/s a process whatever the database can do (those two runs use at most 20,000 jobs). pg-boss's handler does
// nothing; Tact's job reads the customer, evaluates the condition and writes the entry.
//
// Each figure is N / (time from T until the last one is done), so it includes the time until the first poll after
// T (`pickup_delay_ms` says how much). Completion is watched in the database every 50 ms. Enqueue rates: Tact's
// set-wise INSERT and pg-boss's `insert`, both in chunks of 10,000.
//
//   small: N = 20,000; full: N = 200,000. BENCH_SCHEDULER_JOBS=N overrides.
//   BENCH_SCHEDULER_RUNS=tact-inprocess,tact-worker1,tact-worker2,pgboss-fetch1,pgboss-fetch2,pgboss-work1,
//   pgboss-work2 (the default: all) picks runs; a Tact figure's ratio_to_pgboss needs the pg-boss fetch run with the
//   same number of workers.
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import PgBoss from "pg-boss";
import { VirtualClock } from "../src/core/clock.ts";
import { Engine } from "../src/engine/engine.ts";
import { StrategyCache } from "../src/engine/strategy-cache.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { emptyCustomer, loadSynthetic } from "../src/store/bulk-load.ts";
import { type Db, openDb, withTransaction } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { insertEntries } from "../src/store/scenario-entries.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import type { BenchFigure } from "./figure.ts";
import {
  backendCpu,
  cpuSince,
  freshDatabase,
  machineBusyCores,
  machineTicks,
  procCpuSeconds,
  spawnNode,
  startTact,
  type TactProcess,
  type Target,
} from "./support.ts";
import { round } from "./traffic.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const JOBS = { small: 20_000, full: 200_000 } as const;
/** the jobs of the pg-boss work() runs, at most */
const WORK_JOBS = 20_000;
const RUNS = [
  "tact-inprocess",
  "tact-worker1",
  "tact-worker2",
  "pgboss-fetch1",
  "pgboss-fetch2",
  "pgboss-work1",
  "pgboss-work2",
];
/** pg-boss's batchSize (Tact's engine claims in its own default batches of 1,000) */
const BATCH = 200;
/** an idle Tact worker looks for due work every second; the pg-boss fetch loop does the same */
const IDLE_POLL_MS = 1000;
/** pg-boss 10's shortest polling interval */
const PGBOSS_WORK_POLL_S = 0.5;
const CHUNK = 10_000;
const WATCH_MS = 50;
const MAX_WAIT_MS = 30 * 60_000;
const PGBOSS_SCHEMA = "pgboss";
const WAIT = "1h";
const HOUR = 3_600_000;

const STRATEGY = `version: 1
name: Scheduler bench
timezone: UTC
currency: EUR
goals:
  done: { event: bench_goal, window: 1d, target: 1% }
scenarios:
  delayed:
    goal: done
    exit_on_goal: false
    trigger: { event: bench_start }
    steps:
      - wait: ${WAIT}
      - exit_if: "orders >= 1000000"
`;

const log = (msg: string) => process.stderr.write(`[scheduler] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Drained {
  jobs: number;
  /** from T to the last one done */
  seconds: number;
  /** from T to the first one taken up */
  pickupMs: number;
  /** CPU seconds of the consumer processes (or this process) and of the database's backends */
  consumerCpuS: number;
  dbCpuS: number;
  machineBusyCores: number;
}

interface Enqueued {
  jobs: number;
  seconds: number;
}

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  if (opts.backend !== "postgres") {
    log("pg-boss runs on PostgreSQL only: no figures on PGlite");
    return [];
  }
  const jobs = Number(process.env.BENCH_SCHEDULER_JOBS) || JOBS[opts.scale];
  const runs = new Set(
    (process.env.BENCH_SCHEDULER_RUNS ?? RUNS.join(","))
      .split(",")
      .map((r) => r.trim())
      .filter(Boolean),
  );
  const unknown = [...runs].filter((r) => !RUNS.includes(r));
  if (unknown.length > 0) throw new Error(`BENCH_SCHEDULER_RUNS: no run named ${unknown.join(", ")}`);
  const target = await freshDatabase("postgres", opts.databaseUrl);
  const url = target.url as string;
  const figures: BenchFigure[] = [];
  const base = { bench: "scheduler", backend: opts.backend, scale: opts.scale, jobs, batch_size: BATCH };
  try {
    const tact = RUNS.some((r) => r.startsWith("tact") && runs.has(r))
      ? await tactSide(target, jobs, runs)
      : undefined;
    const boss = RUNS.some((r) => r.startsWith("pgboss") && runs.has(r))
      ? await pgbossSide(url, jobs, runs)
      : undefined;

    const perS = (d: Drained | undefined) => (d ? d.jobs / d.seconds : Number.NaN);
    const drained = (metric: string, d: Drained | undefined, extra: Record<string, unknown>) => {
      if (!d) return;
      figures.push({
        ...base,
        metric,
        value: round(perS(d)),
        unit: "jobs/s",
        ...extra,
        jobs: d.jobs,
        seconds: round(d.seconds, 2),
        pickup_delay_ms: Math.round(d.pickupMs),
        consumer_cpu_s: round(d.consumerCpuS, 1),
        db_cpu_s: round(d.dbCpuS, 1),
        jobs_per_cpu_s: round(d.jobs / (d.consumerCpuS + d.dbCpuS)),
        machine_busy_cores: round(d.machineBusyCores, 2),
      });
    };
    const ratio = (d: Drained | undefined, limit: Drained | undefined) =>
      d && limit ? { ratio_to_pgboss: round(perS(d) / perS(limit), 3) } : {};
    const enqueued = (metric: string, e: Enqueued | undefined, how: string) => {
      if (!e) return;
      figures.push({
        ...base,
        metric,
        value: round(e.jobs / e.seconds),
        unit: "jobs/s",
        how,
        seconds: round(e.seconds, 2),
      });
    };

    enqueued(
      "tact_enqueue_per_s",
      tact?.enqueue,
      `set-wise INSERT into scenario_entries, ${CHUNK} rows a statement`,
    );
    enqueued("pgboss_enqueue_per_s", boss?.enqueue, `pg-boss insert(), ${CHUNK} jobs a call`);
    drained("tact_inprocess_jobs_per_s", tact?.inProcess, {
      consumer: "Engine.runOnce(T) in this process, virtual clock",
      workers: 1,
      ...ratio(tact?.inProcess, boss?.fetch1),
    });
    drained("tact_worker1_jobs_per_s", tact?.workers1, {
      consumer: "1 `tact worker` process",
      workers: 1,
      ...ratio(tact?.workers1, boss?.fetch1),
    });
    drained("tact_worker2_jobs_per_s", tact?.workers2, {
      consumer: "2 `tact worker` processes",
      workers: 2,
      ...ratio(tact?.workers2, boss?.fetch2),
    });
    drained("pgboss_fetch1_jobs_per_s", boss?.fetch1, {
      consumer: `1 process: fetch(batchSize ${BATCH}) + complete() loop, ${IDLE_POLL_MS} ms poll when idle`,
      workers: 1,
      note: "the limit: pg-boss's queue operations with a no-op job, the shape of a Tact worker",
    });
    drained("pgboss_fetch2_jobs_per_s", boss?.fetch2, {
      consumer: `2 processes: fetch(batchSize ${BATCH}) + complete() loop, ${IDLE_POLL_MS} ms poll when idle`,
      workers: 2,
      note: "the limit: pg-boss's queue operations with a no-op job, the shape of a Tact worker",
    });
    drained("pgboss_work1_jobs_per_s", boss?.work1, {
      consumer: `1 process: work() with batchSize ${BATCH}, pollingIntervalSeconds ${PGBOSS_WORK_POLL_S}`,
      workers: 1,
      note: "pg-boss's own worker waits out its polling interval after every batch",
    });
    drained("pgboss_work2_jobs_per_s", boss?.work2, {
      consumer: `2 processes: work() with batchSize ${BATCH}, pollingIntervalSeconds ${PGBOSS_WORK_POLL_S}`,
      workers: 2,
      note: "pg-boss's own worker waits out its polling interval after every batch",
    });
  } finally {
    await target.drop();
  }
  return figures;
}

// ---- Tact ------------------------------------------------------------------------------------------------------

interface Prepared {
  db: Db;
  workspaceId: number;
  version: number;
  /** the step after the wait: where an entry waiting in it stands */
  stepAfterWait: string | null;
  customerIds: string[];
}

async function tactSide(
  target: Target,
  jobs: number,
  runs: ReadonlySet<string>,
): Promise<{ enqueue?: Enqueued; inProcess?: Drained; workers1?: Drained; workers2?: Drained }> {
  const p = await prepareTact(target, jobs);
  const out: { enqueue?: Enqueued; inProcess?: Drained; workers1?: Drained; workers2?: Drained } = {};
  try {
    if (runs.has("tact-inprocess")) {
      // In-process, on a virtual clock: the engine's round at T, nothing else.
      const t = new Date(Date.now() + HOUR);
      out.enqueue = await enqueueTact(p, t);
      await p.db.pool.query("ANALYZE scenario_entries");
      const engine = new Engine(p.db, new VirtualClock(t), { publicUrl: "https://bench.invalid" });
      const cpu0 = process.cpuUsage();
      const dbCpu0 = await backendCpu(target.url);
      const machine0 = machineTicks();
      const t0 = performance.now();
      await engine.runOnce(t);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      out.inProcess = {
        jobs,
        seconds,
        pickupMs: 0,
        consumerCpuS: (cpu.user + cpu.system) / 1e6,
        dbCpuS: cpuSince(dbCpu0, await backendCpu(target.url)),
        machineBusyCores: machineBusyCores(machine0, machineTicks()),
      };
      await engine.stop();
      await checkCompleted(p, jobs);
      log(`in-process: ${jobs} journeys past the wait in ${seconds.toFixed(2)} s`);
    }
    for (const count of [1, 2] as const) {
      if (!runs.has(`tact-worker${count}`)) continue;
      const d = await tactWorkers(target, p, jobs, count, out.enqueue?.seconds ?? jobs / 50_000);
      out.enqueue ??= d.enqueue;
      out[`workers${count}`] = d;
    }
    if (out.enqueue) log(`tact enqueue: ${jobs} journeys in ${out.enqueue.seconds.toFixed(2)} s`);
    return out;
  } finally {
    await p.db.close();
  }
}

async function prepareTact(target: Target, jobs: number): Promise<Prepared> {
  const db = await openDb({ databaseUrl: target.url as string, poolSize: 4 });
  const now = new Date();
  await migrate(db, now);
  const ws = await createWorkspace(db, "bench");
  const applied = await applyStrategy(db, ws.id, STRATEGY, "scheduler-bench.yaml", "bench", now);
  if (!applied.ok) throw new Error(`the bench strategy does not load: ${applied.diagnostics[0]?.message}`);
  const t0 = performance.now();
  await loadSynthetic(
    db,
    ws.id,
    (function* () {
      for (let i = 0; i < jobs; i += 1000) {
        const customers = [];
        for (let k = i; k < Math.min(jobs, i + 1000); k++)
          customers.push({ ...emptyCustomer(k), userId: `u${k}`, email: `u${k}@bench.invalid` });
        yield { customers, events: [] };
      }
    })(),
  );
  const { rows } = await db.pool.query<{ customer_id: string }>(
    "SELECT customer_id FROM customers WHERE workspace_id = $1 ORDER BY customer_id",
    [ws.id],
  );
  log(`${rows.length} customers loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // Where an entry stands while it waits: the step after the wait, as the runner leaves it.
  const rs = await new StrategyCache().current(db.pool, ws.id);
  const plan = rs?.plans.get("delayed");
  const wait = [...(plan?.values() ?? [])].find((s) => s.step.kind === "wait");
  if (!rs || !wait) throw new Error("the bench scenario has no wait step");
  return {
    db,
    workspaceId: ws.id,
    version: rs.version,
    stepAfterWait: wait.next,
    customerIds: rows.map((r) => r.customer_id),
  };
}

/**
 * Every customer enters and stands in the wait, due at `t`: the rows the runner leaves after a `wait: 1h` step,
 * written by the store's set-wise insert, as a scheduled occurrence writes its audience (fresh: earlier runs' entries are removed).
 */
async function enqueueTact(p: Prepared, t: Date): Promise<Enqueued> {
  await p.db.pool.query("TRUNCATE scenario_entries");
  const entered = new Date(t.getTime() - HOUR);
  const triggerEvent = { name: "bench_start", occurred_at: entered.toISOString(), properties: {} };
  const t0 = performance.now();
  await withTransaction(p.db, (c) =>
    insertEntries(
      c,
      p.customerIds.map((customerId) => ({
        workspaceId: p.workspaceId,
        customerId,
        scenario: "delayed",
        version: p.version,
        stepId: p.stepAfterWait,
        dueAt: t,
        variant: null,
        globalControl: false,
        triggerEvent,
      })),
      entered,
    ),
  );
  return { jobs: p.customerIds.length, seconds: (performance.now() - t0) / 1000 };
}

async function checkCompleted(p: Prepared, jobs: number): Promise<{ firstTakenUp: Date | null }> {
  const { rows } = await p.db.pool.query<{ n: string; active: string; first: Date | null }>(
    `SELECT count(*) FILTER (WHERE state = 'completed') AS n, count(*) FILTER (WHERE state = 'active') AS active,
            min(updated_at) FILTER (WHERE state = 'completed') AS first
       FROM scenario_entries WHERE workspace_id = $1`,
    [p.workspaceId],
  );
  const r = rows[0];
  if (Number(r?.n) !== jobs)
    throw new Error(`${r?.n} journeys of ${jobs} completed (${r?.active} still active)`);
  return { firstTakenUp: r?.first ?? null };
}

async function tactWorkers(
  target: Target,
  p: Prepared,
  jobs: number,
  count: number,
  enqueueSeconds: number,
): Promise<Drained & { enqueue: Enqueued }> {
  const workers: TactProcess[] = [];
  try {
    for (let i = 0; i < count; i++) workers.push(await startTact(target, { command: "worker", log }));
    const d = await drainAtT(
      target.url as string,
      enqueueSeconds,
      async (t) => {
        const e = await enqueueTact(p, t);
        await p.db.pool.query("ANALYZE scenario_entries");
        return e;
      },
      "SELECT EXISTS (SELECT 1 FROM scenario_entries WHERE state = 'active' AND due_at <= $1) AS left",
      (t) => [t],
      workers.map((w) => w.pid),
    );
    const { firstTakenUp } = await checkCompleted(p, jobs);
    // updated_at is the start of the round that advanced the entry: the first is when the first round began
    d.pickupMs = firstTakenUp ? firstTakenUp.getTime() - d.t.getTime() : Number.NaN;
    log(`${count} tact worker(s): ${jobs} journeys in ${d.seconds.toFixed(2)} s after T`);
    return d;
  } finally {
    for (const w of workers) await w.stop();
  }
}

// ---- measuring from T ----------------------------------------------------------------------------------------

/**
 * Enqueues with every job due at T, a little after the enqueue ends (consumers already running and idle), and
 * watches the database from T until `leftSql` says none is left. When the enqueue ran past T, it is done again
 * with a longer lead.
 */
async function drainAtT(
  url: string,
  enqueueGuessS: number,
  enqueue: (t: Date) => Promise<Enqueued>,
  leftSql: string,
  leftParams: (t: Date) => unknown[],
  consumerPids: number[],
): Promise<Drained & { t: Date; enqueue: Enqueued }> {
  let leadMs = 2000 + 3 * enqueueGuessS * 1000;
  for (let attempt = 1; ; attempt++) {
    const t = new Date(Date.now() + leadMs);
    const enqueued = await enqueue(t);
    const margin = t.getTime() - Date.now();
    if (margin < 300) {
      if (attempt >= 3) throw new Error(`the enqueue kept running past T (${margin} ms before T)`);
      log(`the enqueue ended ${-margin} ms after T: again with a longer lead`);
      leadMs *= 3;
      continue;
    }
    const watch = new pg.Client({ connectionString: url });
    await watch.connect();
    try {
      await sleep(margin - 200);
      const consumerCpu0 = consumerPids.map(procCpuSeconds);
      const dbCpu0 = await backendCpu(url);
      const machine0 = machineTicks();
      while (Date.now() < t.getTime()) await sleep(1);
      for (;;) {
        const { rows } = await watch.query<{ left: boolean }>(leftSql, leftParams(t));
        if (!rows[0]?.left) break;
        if (Date.now() - t.getTime() > MAX_WAIT_MS) throw new Error("not drained within 30 minutes");
        await sleep(WATCH_MS);
      }
      const seconds = (Date.now() - t.getTime()) / 1000;
      const consumerCpu = consumerPids
        .map(procCpuSeconds)
        .reduce((a, b, i) => a + b - (consumerCpu0[i] ?? 0), 0);
      return {
        t,
        enqueue: enqueued,
        jobs: enqueued.jobs,
        seconds,
        pickupMs: Number.NaN,
        consumerCpuS: consumerCpu,
        dbCpuS: cpuSince(dbCpu0, await backendCpu(url)),
        machineBusyCores: machineBusyCores(machine0, machineTicks()),
      };
    } finally {
      await watch.end();
    }
  }
}

// ---- pg-boss ---------------------------------------------------------------------------------------------------

type Mode = "fetch" | "work";

async function pgbossSide(
  url: string,
  jobs: number,
  runs: ReadonlySet<string>,
): Promise<{ enqueue?: Enqueued; fetch1?: Drained; fetch2?: Drained; work1?: Drained; work2?: Drained }> {
  const boss = new PgBoss({
    connectionString: url,
    schema: PGBOSS_SCHEMA,
    supervise: false,
    schedule: false,
    max: 4,
  });
  boss.on("error", (err) => log(`pg-boss: ${err.message}`));
  await boss.start();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const out: { enqueue?: Enqueued; fetch1?: Drained; fetch2?: Drained; work1?: Drained; work2?: Drained } =
    {};
  try {
    for (const [mode, count] of [
      ["fetch", 1],
      ["fetch", 2],
      ["work", 1],
      ["work", 2],
    ] as const) {
      if (!runs.has(`pgboss-${mode}${count}`)) continue;
      // work() takes at most batchSize jobs per polling interval by design: fewer jobs tell its rate as well
      const n = mode === "work" ? Math.min(jobs, WORK_JOBS) : jobs;
      const queue = `bench_${mode}_${count}`;
      await boss.createQueue(queue);
      const workers: PgBossWorker[] = [];
      try {
        for (let i = 0; i < count; i++) workers.push(await startPgBossWorker(url, queue, mode));
        const d = await drainAtT(
          url,
          ((out.enqueue?.seconds ?? jobs / 20_000) * n) / jobs,
          async (t) => {
            const e = await enqueuePgBoss(boss, queue, n, t);
            await pool.query(`ANALYZE ${PGBOSS_SCHEMA}.job`);
            return e;
          },
          `SELECT EXISTS (SELECT 1 FROM ${PGBOSS_SCHEMA}.job WHERE name = $1 AND state < 'completed') AS left`,
          () => [queue],
          workers.map((w) => w.pid),
        );
        const { rows } = await pool.query<{ n: string; first: Date | null; last: Date | null }>(
          `SELECT count(*) FILTER (WHERE state = 'completed') AS n, min(started_on) AS first,
                  max(completed_on) AS last
             FROM ${PGBOSS_SCHEMA}.job WHERE name = $1`,
          [queue],
        );
        const r = rows[0];
        if (Number(r?.n) !== n) throw new Error(`pg-boss completed ${r?.n} jobs of ${n}`);
        d.pickupMs = r?.first ? r.first.getTime() - d.t.getTime() : Number.NaN;
        const last = r?.last ? ((r.last.getTime() - d.t.getTime()) / 1000).toFixed(2) : "?";
        log(
          `pg-boss ${mode} × ${count}: ${n} jobs in ${d.seconds.toFixed(2)} s after T (last completed_on: ${last} s)`,
        );
        if (n === jobs) out.enqueue ??= d.enqueue;
        out[`${mode}${count}`] = d;
      } finally {
        for (const w of workers) await w.stop();
        // the queue's jobs first: its foreign key refuses to delete a queue that has any
        await pool.query(`DELETE FROM ${PGBOSS_SCHEMA}.job WHERE name = $1`, [queue]);
        await boss.deleteQueue(queue);
      }
    }
    if (out.enqueue) log(`pg-boss enqueue: ${jobs} jobs in ${out.enqueue.seconds.toFixed(2)} s`);
    return out;
  } finally {
    await pool.end();
    await boss.stop({ graceful: false, wait: true });
  }
}

async function enqueuePgBoss(boss: PgBoss, queue: string, jobs: number, t: Date): Promise<Enqueued> {
  const t0 = performance.now();
  for (let i = 0; i < jobs; i += CHUNK) {
    const chunk: PgBoss.JobInsert[] = [];
    for (let k = i; k < Math.min(jobs, i + CHUNK); k++)
      chunk.push({ name: queue, data: { customer: k }, startAfter: t });
    await boss.insert(chunk);
  }
  return { jobs, seconds: (performance.now() - t0) / 1000 };
}

interface PgBossWorker {
  pid: number;
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

/** A pg-boss consumer in its own process (as a Tact worker is), ready once it has started. */
async function startPgBossWorker(url: string, queue: string, mode: Mode): Promise<PgBossWorker> {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_PGBOSS_URL: url, BENCH_PGBOSS_QUEUE: queue };
  delete env.NODE_OPTIONS;
  const child = spawnNode(["--import", "tsx", SELF, "pgboss-worker", mode], env);
  const deadline = Date.now() + 60_000;
  while (!child.output().includes("ready\n")) {
    if (child.gone()) throw new Error(`the pg-boss worker exited before it was ready:\n${child.output()}`);
    if (Date.now() > deadline) {
      await child.stop("SIGKILL");
      throw new Error(`the pg-boss worker was not ready within 60 s:\n${child.output()}`);
    }
    await sleep(50);
  }
  return {
    pid: child.pid,
    async stop() {
      const code = await child.stop();
      if (code !== 0 && code !== null)
        log(`the pg-boss worker exited with code ${code}:\n${child.output().slice(-4000)}`);
    },
  };
}

/** The child: consumes the queue until SIGTERM. */
async function pgbossWorker(mode: Mode): Promise<void> {
  const url = process.env.BENCH_PGBOSS_URL as string;
  const queue = process.env.BENCH_PGBOSS_QUEUE as string;
  const boss = new PgBoss({
    connectionString: url,
    schema: PGBOSS_SCHEMA,
    supervise: false,
    schedule: false,
    migrate: false,
    max: 4,
  });
  boss.on("error", (err) => process.stderr.write(`pg-boss: ${err.message}\n`));
  await boss.start();
  let stopping = false;
  let loop: Promise<void> = Promise.resolve();
  if (mode === "work") {
    await boss.work(queue, { batchSize: BATCH, pollingIntervalSeconds: PGBOSS_WORK_POLL_S }, async () => {});
  } else {
    loop = (async () => {
      while (!stopping) {
        const jobs = await boss.fetch(queue, { batchSize: BATCH });
        if (jobs.length === 0) {
          await sleep(IDLE_POLL_MS);
          continue;
        }
        await boss.complete(
          queue,
          jobs.map((j) => j.id),
        );
      }
    })();
  }
  process.once("SIGTERM", () => {
    stopping = true;
    void loop
      .then(() => boss.stop({ graceful: true, wait: true }))
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        process.stderr.write(`${(err as Error).stack}\n`);
        process.exit(1);
      });
  });
  process.stdout.write("ready\n");
}

if (
  process.argv[1] &&
  pathToFileURL(process.argv[1]).href === import.meta.url &&
  process.argv[2] === "pgboss-worker"
) {
  pgbossWorker(process.argv[3] === "work" ? "work" : "fetch").catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
