// `tact strategy simulate`: the production engine run on a virtual clock over a synthetic base or a copy of a
// workspace, in a throw-away database, with every channel sending into a sink. The strategy is applied at the
// start; the base's activity goes on as the generator tells it (sign-ups, page views, orders ingested at their
// virtual times); the clock moves by a fixed step and the engine does all work due at each step. Nothing touches
// the configured database (a copy only reads it) and nothing is sent.
import { createHash } from "node:crypto";
import { ChannelRegistry, sinkFactory } from "../channels/registry.ts";
import { VirtualClock } from "../core/clock.ts";
import { ingestMessages } from "../ingest/ingest.ts";
import { loadSynthetic } from "../store/bulk-load.ts";
import { type Db, openDb } from "../store/db.ts";
import { migrate } from "../store/migrate.ts";
import { createWorkspace, getWorkspace, type Workspace } from "../store/workspaces.ts";
import type { Diagnostic } from "../strategy/diagnostics.ts";
import { loadStrategy } from "../strategy/load.ts";
import type { Strategy } from "../strategy/types.ts";
import { Engine } from "./engine.ts";
import { type BaseGenerator, type FutureEvent, inTimeOrder, splitAtStart } from "./simulate-base.ts";
import { type CopyCounts, copyWorkspace } from "./simulate-copy.ts";
import { DeferralCounter, type SimulationFigures, simulationFigures } from "./simulate-report.ts";
import { applyStrategy } from "./strategy-runtime.ts";

export type { BaseGenerator } from "./simulate-base.ts";

const DAY_MS = 86_400_000;
const INGEST_CHUNK = 1_000;
const WORKSPACE = "simulation";

export interface SyntheticBase {
  kind: "synthetic";
  /** the example's name, for the report */
  example: string;
  generate: BaseGenerator;
  customers: number;
  seed: number;
  /** days of history before the start (default 365) */
  historyDays?: number;
}

export interface CopiedBase {
  kind: "copy";
  /** the configured database, only read */
  from: Db;
  workspace: string;
}

export interface SimulateOptions {
  /** the strategy's text with its template files inlined */
  source: string;
  file: string;
  base: SyntheticBase | CopiedBase;
  start: Date;
  days: number;
  stepMs: number;
  /** a fresh, migrated, empty database to run in (benchmarks on PostgreSQL); default: in-memory PGlite */
  target?: Db;
  onProgress?: (p: SimulateProgress) => void;
}

export interface SimulateProgress {
  phase: "load" | "run";
  /** customers loaded, or simulated days done */
  done: number;
  total: number;
}

export interface SimulationReport extends SimulationFigures {
  strategy: string;
  base:
    | { kind: "synthetic"; example: string; customers: number; seed: number; historyDays: number }
    | { kind: "copy"; workspace: string; copied: CopyCounts };
  start: string;
  end: string;
  days: number;
  stepMinutes: number;
  events: { history: number; simulated: number; rejected: number };
}

export interface SimulationTimings {
  loadSeconds: number;
  applySeconds: number;
  runSeconds: number;
  reportSeconds: number;
  steps: number;
}

export type SimulationResult =
  | { ok: true; report: SimulationReport; timings: SimulationTimings }
  | { ok: false; diagnostics: Diagnostic[] };

/** Runs the simulation; a strategy that does not load is returned as its diagnostics, before any work. */
export async function simulate(opts: SimulateOptions): Promise<SimulationResult> {
  const loaded = loadStrategy(opts.source, opts.file);
  if (!loaded.ok) return { ok: false, diagnostics: loaded.diagnostics };
  const start = opts.start;
  const end = new Date(start.getTime() + opts.days * DAY_MS);
  const db = opts.target ?? (await openDb({ dataDir: "memory://" }));
  if (!opts.target) await migrate(db, start);
  try {
    const t0 = performance.now();
    const base = await prepareBase(db, opts, loaded.strategy, end);
    const t1 = performance.now();
    const applied = await applyStrategy(db, base.ws.id, opts.source, opts.file, "simulation", start);
    if (!applied.ok) return { ok: false, diagnostics: applied.diagnostics };
    const t2 = performance.now();
    const run = await runEngine(db, base.ws, opts, end, base.future);
    const t3 = performance.now();
    const figures = await simulationFigures(
      db.pool,
      base.ws.id,
      loaded.strategy,
      { start, end, customersAtStart: base.customersAtStart },
      run.deferrals.counts,
    );
    const report: SimulationReport = {
      strategy: loaded.strategy.name,
      base: base.describe,
      start: start.toISOString(),
      end: end.toISOString(),
      days: opts.days,
      stepMinutes: opts.stepMs / 60_000,
      events: { history: base.historyEvents, simulated: run.ingested, rejected: run.rejected },
      ...figures,
    };
    const seconds = (a: number, b: number) => Math.round(b - a) / 1000;
    return {
      ok: true,
      report,
      timings: {
        loadSeconds: seconds(t0, t1),
        applySeconds: seconds(t1, t2),
        runSeconds: seconds(t2, t3),
        reportSeconds: seconds(t3, performance.now()),
        steps: run.steps,
      },
    };
  } finally {
    if (!opts.target) await db.close();
  }
}

interface PreparedBase {
  ws: Workspace;
  future: FutureEvent[];
  historyEvents: number;
  customersAtStart: number;
  describe: SimulationReport["base"];
}

async function prepareBase(
  db: Db,
  opts: SimulateOptions,
  strategy: Strategy,
  end: Date,
): Promise<PreparedBase> {
  const b = opts.base;
  const progress = (done: number, total: number) => opts.onProgress?.({ phase: "load", done, total });
  if (b.kind === "copy") {
    const copied = await copyWorkspace(b.from, db, b.workspace, strategy, opts.start);
    progress(copied.counts.customers, copied.counts.customers);
    const ws = await getWorkspace(db, b.workspace);
    return {
      ws,
      future: [],
      historyEvents: copied.counts.events,
      customersAtStart: copied.counts.customers,
      describe: { kind: "copy", workspace: b.workspace, copied: copied.counts },
    };
  }
  const created = await createWorkspace(db, WORKSPACE);
  // Control groups, splits and signed links depend on the workspace's secrets: derived from the seed, the same
  // command gives the same run.
  const secret = (what: string) => createHash("sha256").update(`simulate:${b.seed}:${what}`).digest("hex");
  await db.pool.query("UPDATE workspaces SET salt = $2, link_secret = $3 WHERE workspace_id = $1", [
    created.id,
    secret("salt").slice(0, 32),
    secret("links"),
  ]);
  const historyDays = b.historyDays ?? 365;
  const future: FutureEvent[] = [];
  const generated = b.generate({
    customers: b.customers,
    seed: b.seed,
    now: end,
    days: historyDays + opts.days,
  });
  const counts = await loadSynthetic(db, created.id, splitAtStart(generated, opts.start, future), (c) =>
    progress(c.customers, b.customers),
  );
  return {
    ws: await getWorkspace(db, WORKSPACE),
    future: inTimeOrder(future),
    historyEvents: counts.events,
    customersAtStart: counts.customers,
    describe: { kind: "synthetic", example: b.example, customers: b.customers, seed: b.seed, historyDays },
  };
}

/** A small seeded PRNG (mulberry32) for the retry jitter of the channels: the same run twice is the same. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function runEngine(
  db: Db,
  ws: Workspace,
  opts: SimulateOptions,
  end: Date,
  future: FutureEvent[],
): Promise<{ steps: number; ingested: number; rejected: number; deferrals: DeferralCounter }> {
  const clock = new VirtualClock(opts.start);
  const registry = ChannelRegistry.every(
    { env: {}, random: seeded(opts.base.kind === "synthetic" ? opts.base.seed : 1) },
    sinkFactory({ keep: 0 }),
  );
  const engine = new Engine(db, clock, {
    publicUrl: "https://simulation.tact.invalid",
    registry: () => registry,
    // A simulation calls no one: every webhook step's call is answered here, as if the receiver took it.
    webhookTransport: async () => ({ status: 200 }),
    batchSize: 500,
    // one decide round at a time: lanes taking a channel's last free slot in either order would make runs differ
    decideLanes: 1,
    // The embedded database runs one query at a time: parallel sends would only queue behind each other.
    ...(db.backend === "pglite" ? { sendConcurrency: 1 } : {}),
  });
  const deferrals = new DeferralCounter();
  await DeferralCounter.prepare(db);
  let next = 0;
  let ingested = 0;
  let rejected = 0;
  let steps = 0;
  let lastDay = 0;
  try {
    await engine.runOnce(opts.start);
    await deferrals.count(db.pool, ws.id, opts.start);
    for (let t = opts.start.getTime() + opts.stepMs; ; t += opts.stepMs) {
      const now = new Date(Math.min(t, end.getTime()));
      clock.set(now);
      const due: Record<string, unknown>[] = [];
      for (let e = future[next]; e !== undefined && e.at <= now.getTime(); e = future[++next])
        due.push(e.message);
      for (let i = 0; i < due.length; i += INGEST_CHUNK) {
        const r = await ingestMessages(db, ws, due.slice(i, i + INGEST_CHUNK), { receivedAt: now });
        ingested += r.accepted;
        rejected += r.rejected.length;
      }
      await engine.runOnce(now);
      await deferrals.count(db.pool, ws.id, now);
      steps++;
      const day = Math.floor((now.getTime() - opts.start.getTime()) / DAY_MS);
      if (day > lastDay) {
        lastDay = day;
        opts.onProgress?.({ phase: "run", done: day, total: opts.days });
      }
      if (now.getTime() >= end.getTime()) break;
    }
  } finally {
    await engine.stop();
    await registry.close();
  }
  return { steps, ingested, rejected, deferrals };
}
