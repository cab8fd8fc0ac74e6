// Simulation benchmark: `tact strategy simulate` of the online-school strategy over its synthetic base (small:
// 5,000 customers × 30 days; full: 100,000 customers × 90 days, the target ≤ 60 s), on in-memory PGlite
// and, when a URL is given, on PostgreSQL. Beside it, the limit: the engine's idle round (nothing due) on an
// empty workspace with the same strategy, times the number of steps — the cost of the clock alone.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { generate } from "../examples/online-school/generate.ts";
import { ChannelRegistry, sinkFactory } from "../src/channels/registry.ts";
import { VirtualClock } from "../src/core/clock.ts";
import { Engine } from "../src/engine/engine.ts";
import { inlineTemplateFiles } from "../src/engine/render/template-files.ts";
import { simulate } from "../src/engine/simulate.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { type BenchDatabase, benchDatabase } from "./bench-database.ts";
import type { BenchFigure } from "./figure.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const STRATEGY = fileURLToPath(new URL("../examples/online-school/strategy.yaml", import.meta.url));
const START = new Date("2027-03-15T00:00:00Z");
const STEP_MS = 3_600_000;
const SIZES = { small: { customers: 5_000, days: 30 }, full: { customers: 100_000, days: 90 } } as const;
const IDLE_ROUNDS = 100;

const log = (msg: string) => process.stderr.write(`[simulate] ${msg}\n`);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  const size = SIZES[opts.scale];
  const source = inlineTemplateFiles(readFileSync(STRATEGY, "utf8"), STRATEGY).source;
  const base = { bench: "simulate", backend: opts.backend, scale: opts.scale, ...size, step: "1h" };

  const target = await openTarget(opts, "run");
  let lastLog = 0;
  const t0 = performance.now();
  const r = await simulate({
    source,
    file: STRATEGY,
    start: START,
    days: size.days,
    stepMs: STEP_MS,
    base: { kind: "synthetic", example: "online-school", generate, customers: size.customers, seed: 42 },
    ...(target ? { target: target.db } : {}),
    onProgress: (p) => {
      if (performance.now() - lastLog < 10_000) return;
      lastLog = performance.now();
      log(`${p.phase} ${p.done}/${p.total} after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    },
  }).finally(() => target?.close());
  if (!r.ok) throw new Error(`the example strategy does not load: ${r.diagnostics[0]?.message}`);
  const total = (performance.now() - t0) / 1000;
  const { timings, report } = r;
  log(
    `${JSON.stringify(timings)}; ${report.messages.planned} messages planned, ${report.messages.sent} sent`,
  );

  const idleMs = await idleRound(opts, source);
  log(`idle engine round ${idleMs.toFixed(2)} ms`);

  const withSize = {
    ...base,
    events_history: report.events.history,
    events_simulated: report.events.simulated,
    messages_planned: report.messages.planned,
    messages_sent: report.messages.sent,
    steps: timings.steps,
  };
  return [
    {
      ...withSize,
      metric: "simulate_total_seconds",
      value: round(total),
      unit: "s",
      note: "generate and load the base, apply, run every step, report",
      ...(opts.scale === "full" ? { target: 60 } : {}),
    },
    { ...withSize, metric: "load_base_seconds", value: timings.loadSeconds, unit: "s" },
    { ...withSize, metric: "apply_seconds", value: timings.applySeconds, unit: "s" },
    { ...withSize, metric: "engine_run_seconds", value: timings.runSeconds, unit: "s" },
    {
      ...withSize,
      metric: "engine_step_ms",
      value: round((timings.runSeconds * 1000) / Math.max(1, timings.steps)),
      unit: "ms",
      note: "per step: ingest the step's events, then every due piece of work",
    },
    {
      ...withSize,
      metric: "idle_step_ms",
      value: round(idleMs, 3),
      unit: "ms",
      note: "the limit: one engine round with nothing due, on an empty workspace with the same strategy",
    },
  ];
}

/** The engine's round when nothing is due: what each step of the clock costs at the least. */
async function idleRound(opts: RunOptions, source: string): Promise<number> {
  const target = await openTarget(opts, "idle");
  const db = target?.db ?? (await openDb({ dataDir: "memory://" }));
  try {
    if (!target) await migrate(db, START);
    const ws = await createWorkspace(db, "idle");
    const applied = await applyStrategy(db, ws.id, source, STRATEGY, "bench", START);
    if (!applied.ok) throw new Error("the example strategy does not load");
    const clock = new VirtualClock(START);
    const registry = ChannelRegistry.every({ env: {} }, sinkFactory({ keep: 0 }));
    const engine = new Engine(db, clock, { publicUrl: "https://bench.invalid", registry: () => registry });
    await engine.runOnce(START);
    const t = performance.now();
    for (let i = 1; i <= IDLE_ROUNDS; i++) {
      clock.advance(STEP_MS);
      await engine.runOnce(clock.now());
    }
    const ms = (performance.now() - t) / IDLE_ROUNDS;
    await engine.stop();
    return ms;
  } finally {
    if (target) await target.close();
    else await db.close();
  }
}

/**
 * On PostgreSQL, a database of this run, dropped at the end; on PGlite, the simulation's own in-memory one. The
 * run's database is thrown away, as the simulation's always is: its commits do not wait for the disk (the
 * in-memory database has none to wait for).
 */
async function openTarget(opts: RunOptions, what: string): Promise<BenchDatabase | null> {
  if (opts.backend === "pglite") return null;
  if (!opts.databaseUrl) throw new Error("the postgres backend needs a databaseUrl");
  const url = new URL(opts.databaseUrl);
  url.searchParams.set("options", "-c synchronous_commit=off");
  return benchDatabase(url.toString(), `tact_bench_simulate_${what}_${process.pid}`, START);
}
