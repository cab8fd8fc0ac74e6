// Customer value fit (BG/NBD + Gamma-Gamma, RFM, every customer's predictions written): `fitCustomerValue`, what
// `tact value fit` and the worker run, timed on
//   - a synthetic base drawn from the models themselves (seed 42; full: 100,000 customers, target ≤ 10 s for the
//     fit; small: 10,000): BG/NBD with r = 0.25, α = 4.5, a = 0.8, b = 2.4 and Gamma-Gamma spend with p = 6.25,
//     q = 3.74, γ = 15.44; customers acquired over the first 12 weeks of 2024 and observed to 2024-12-31, one
//     order per purchase day. The figure carries the parameters the fit recovers.
//   - the full CDNOW master (23,570 customers, ../shared/data/CDNOW_master.txt) when it is there, imported with
//     the product's CSV import (preset cdnow) and fitted on 1997-01-01..1997-09-30 (full scale only).
// Beside each, the limit: reading the orders alone.
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { seededRandom } from "../src/core/stats/seeded-random.ts";
import { randomGamma } from "../src/core/value/bg-nbd-simulation.ts";
import { importCsv } from "../src/ingest/csv-import.ts";
import { fitCustomerValue } from "../src/measure/value-fit.ts";
import { loadOrderEvents } from "../src/store/customer-value.ts";
import { type Db, withTransaction } from "../src/store/db.ts";
import { type EventRow, insertEvents } from "../src/store/events.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { benchBase } from "./bench-database.ts";
import type { BenchFigure } from "./figure.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const DAY = 86_400_000;
const START = Date.UTC(2024, 0, 1);
const END = new Date(Date.UTC(2024, 11, 31));
const CDNOW = fileURLToPath(new URL("../../shared/data/CDNOW_master.txt", import.meta.url));
const TRUE = { r: 0.25, alpha: 4.5, a: 0.8, b: 2.4, p: 6.25, q: 3.74, gamma: 15.44 };

const log = (msg: string) => process.stderr.write(`[value-fit] ${msg}\n`);
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Purchase days of one customer by the BG/NBD process (weeks), and a spend per purchase by Gamma-Gamma. */
function* draw(customers: number): Generator<{ id: number; day: number; amount: number }> {
  const random = seededRandom(42);
  const weeks = (END.getTime() - START) / DAY / 7;
  for (let id = 1; id <= customers; id++) {
    const lambda = randomGamma(random, TRUE.r) / TRUE.alpha;
    const x = randomGamma(random, TRUE.a);
    const dropout = x / (x + randomGamma(random, TRUE.b));
    const nu = randomGamma(random, TRUE.q) / TRUE.gamma;
    const spend = () => Math.round((randomGamma(random, TRUE.p) / nu) * 100) / 100;
    let t = random.next() * 12; // acquired in the first 12 weeks
    const days = new Set<number>();
    for (;;) {
      const day = Math.floor(t * 7);
      if (!days.has(day)) {
        days.add(day);
        yield { id, day, amount: spend() };
      }
      if (days.size > 1 && random.next() < dropout) break;
      t += -Math.log(1 - random.next()) / lambda;
      if (t > weeks) break;
    }
  }
}

async function loadSynthetic(db: Db, ws: number, customers: number): Promise<number> {
  await db.pool.query(
    `INSERT INTO customers (workspace_id, customer_id, user_id)
     SELECT $1, i, 'c' || i FROM generate_series(1, $2) i`,
    [ws, customers],
  );
  await ensureEventPartitions(
    db,
    Array.from({ length: 13 }, (_, m) => new Date(Date.UTC(2024, m, 1))),
  );
  let batch: EventRow[] = [];
  let orders = 0;
  const flush = async () => {
    const rows = batch;
    batch = [];
    await withTransaction(db, (c) => insertEvents(c, ws, rows, db.backend === "postgres"));
  };
  for (const o of draw(customers)) {
    const at = new Date(START + o.day * DAY);
    batch.push({
      customerId: String(o.id),
      messageId: `o${o.id}-${o.day}`,
      type: "track",
      name: "order_completed",
      occurredAt: at,
      receivedAt: at,
      propertiesJson: `{"revenue":${o.amount}}`,
      contextJson: null,
    });
    orders++;
    if (batch.length === 10_000) await flush();
  }
  await flush();
  await db.pool.query("ANALYZE order_facts");
  return orders;
}

async function timeFit(
  db: Db,
  ws: number,
  calibrationEnd: Date,
  what: string,
  common: { bench: string; backend: string; [k: string]: unknown },
): Promise<BenchFigure[]> {
  const t0 = performance.now();
  const orders = await loadOrderEvents(db, ws, null);
  const readSeconds = (performance.now() - t0) / 1000;
  const t = performance.now();
  const fit = await fitCustomerValue(db, ws, { calibrationEnd, now: calibrationEnd });
  const seconds = (performance.now() - t) / 1000;
  const bg = fit.bgNbd;
  const gg = fit.gammaGamma;
  log(
    `${what}: ${fit.customers} customers, ${orders.length} orders; fit ${seconds.toFixed(2)} s ` +
      `(${JSON.stringify(fit.timings)}); reading the orders alone ${readSeconds.toFixed(2)} s; ` +
      `r ${bg?.r.toFixed(3)} α ${bg?.alpha.toFixed(3)} a ${bg?.a.toFixed(3)} b ${bg?.b.toFixed(3)}, ` +
      `p ${gg?.p.toFixed(3)} q ${gg?.q.toFixed(3)} γ ${gg?.gamma.toFixed(3)}`,
  );
  return [
    {
      ...common,
      metric: `value_fit_${what}_seconds`,
      value: round(seconds),
      unit: "s",
      customers: fit.customers,
      orders: orders.length,
      timings: fit.timings,
      fitted: {
        r: bg && round(bg.r),
        alpha: bg && round(bg.alpha),
        a: bg && round(bg.a),
        b: bg && round(bg.b),
        p: gg && round(gg.p),
        q: gg && round(gg.q),
        gamma: gg && round(gg.gamma),
      },
      ...(what === "synthetic" && fit.customers >= 100_000 ? { target: 10 } : {}),
    },
    {
      ...common,
      metric: `value_fit_${what}_read_orders_seconds`,
      value: round(readSeconds),
      unit: "s",
      note: "the limit: reading the orders the fit reads",
    },
  ];
}

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  const customers = opts.scale === "full" ? 100_000 : 10_000;
  const base = await benchBase(opts, `tact_bench_value_fit_${process.pid}`, END);
  const db = base.db;
  try {
    const common = { bench: "value-fit", backend: opts.backend, scale: opts.scale };
    const ws = await createWorkspace(db, "synthetic");
    const t = performance.now();
    const orders = await loadSynthetic(db, ws.id, customers);
    log(
      `${customers} customers, ${orders} orders drawn and stored in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    const figures: BenchFigure[] = await timeFit(db, ws.id, END, "synthetic", {
      ...common,
      true_params: TRUE,
    });
    if (opts.scale === "full" && existsSync(CDNOW)) {
      const cd = await createWorkspace(db, "cdnow");
      const ti = performance.now();
      const imported = await importCsv(db, cd, CDNOW, { kind: "events", preset: "cdnow" });
      log(
        `CDNOW master imported in ${((performance.now() - ti) / 1000).toFixed(1)} s: ${JSON.stringify(imported)}`,
      );
      await db.pool.query("ANALYZE order_facts");
      figures.push(
        ...(await timeFit(db, cd.id, new Date(Date.UTC(1997, 8, 30)), "cdnow_master", { ...common })),
      );
    } else if (opts.scale === "full") log(`${CDNOW} is not there: the CDNOW master is left out`);
    return figures;
  } finally {
    await base.close();
  }
}
