// Broadcast benchmark: a scheduled newsletter to the whole base (full: 1,000,000 customers) with every
// communication rule on — opt-in consent, quiet hours, two frequency caps and a minimum gap over a week of earlier
// sends, a 5% global control group, channel order with an SMS fallback, and a higher-priority VIP scenario due at
// the same moment for a tenth of the base. The engine's rounds are driven on a virtual clock, each phase timed
// alone: the schedule entering the audience and the runner planning the messages (entries/s), the outbox deciding
// them (decisions/s, target ≥ 20,000 at full scale), the sender delivering them to an SMTP server in a child process
// (emails/s counted by the server, target ≥ 3,000). Beside it, the limit: a bare nodemailer loop to the same server.
//
//   BENCH_BROADCAST_CUSTOMERS=N   the base's size (default: small 20,000 on PostgreSQL, 5,000 on PGlite; full
//                                 1,000,000 on PostgreSQL, 100,000 on PGlite)
//   BENCH_BROADCAST_SEND=N        emails actually sent in the send phase (default: every queued one)
//   BENCH_BROADCAST_LIMIT_SEND=N  emails of the bare nodemailer loop (default: small 10,000, full 100,000)
//   BENCH_BROADCAST_POOL=N        SMTP connections (the channel's `pool`, default 5, the channel's own default)
//   BENCH_BROADCAST_BATCH=N       the engine's batch size (default 1,000, the engine's own default)
//   BENCH_BROADCAST_LANES=N       decide rounds at once (default 2 on PostgreSQL, the engine's TACT_DECIDE_LANES; 1 on
//                                 PGlite)
//   BENCH_BROADCAST_CAPACITY=1    also a daily capacity on the SMS channel (rule 8 of the arbiter: every decide
//                                 batch then counts the channel's sends of the day)
//   TACT_SEND_CONCURRENCY=N       sends in flight at once (default 16, as in production)
import { performance } from "node:perf_hooks";
import { drain } from "../src/engine/lanes.ts";
import { decideInLanes } from "../src/engine/outbox-decide.ts";
import { OutboxSender } from "../src/engine/outbox-send.ts";
import { ScenarioRunner } from "../src/engine/scenario-runner.ts";
import { takenUpAt } from "../src/engine/schedules.ts";
import { StrategyCache } from "../src/engine/strategy-cache.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { loadSynthetic } from "../src/store/bulk-load.ts";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { type BenchDatabase, benchDatabase } from "./bench-database.ts";
import {
  ALL_DUE_AT,
  APPLIED_AT,
  BROADCAST_DATE,
  BROADCAST_TIME,
  customerBatches,
  strategy,
  writeHistory,
} from "./broadcast-base.ts";
import type { BenchFigure } from "./figure.ts";
import { nodemailerLoop } from "./nodemailer-loop.ts";
import { startSmtpCounter } from "./smtp-counter.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const SIZES = {
  postgres: { small: 20_000, full: 1_000_000 },
  pglite: { small: 5_000, full: 100_000 },
} as const;
const LIMIT_SENDS = { small: 10_000, full: 100_000 } as const;
const SCENARIOS = ["spring_news", "vip_preview"];
const PROGRESS_MS = 10_000;

const log = (msg: string) => process.stderr.write(`[broadcast] ${msg}\n`);
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, not ${v}`);
  return n;
};

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  const customers = envInt("BENCH_BROADCAST_CUSTOMERS") ?? SIZES[opts.backend][opts.scale];
  const sendAtMost = envInt("BENCH_BROADCAST_SEND");
  const limitSends = envInt("BENCH_BROADCAST_LIMIT_SEND") ?? LIMIT_SENDS[opts.scale];
  const pool = envInt("BENCH_BROADCAST_POOL") ?? 5;
  const batch = envInt("BENCH_BROADCAST_BATCH") ?? 1000;
  // the engine's default: two decide rounds at once on PostgreSQL, one on the embedded database
  const lanes = opts.backend === "postgres" ? Math.max(1, envInt("BENCH_BROADCAST_LANES") ?? 2) : 1;
  const concurrency = envInt("TACT_SEND_CONCURRENCY") ?? 16;
  const capacity = process.env.BENCH_BROADCAST_CAPACITY === "1";
  const base = {
    bench: "broadcast",
    backend: opts.backend,
    scale: opts.scale,
    customers,
    sms_capacity: capacity,
  };

  const smtp = await startSmtpCounter();
  const target = await openTarget(opts);
  try {
    const { db } = target;
    const ws = await createWorkspace(db, "shop");
    let t = performance.now();
    await loadSynthetic(db, ws.id, customerBatches(customers), (c) => {
      if (c.customers % 100_000 === 0) log(`loaded ${c.customers} customers`);
    });
    const history = await writeHistory(db.pool, ws.id, ALL_DUE_AT);
    const loadSeconds = (performance.now() - t) / 1000;
    log(`${customers} customers and ${history} earlier emails loaded in ${loadSeconds.toFixed(1)} s`);
    const source = strategy(smtp.port, pool, capacity);
    const applied = await applyStrategy(db, ws.id, source, "broadcast.yaml", "bench", APPLIED_AT);
    if (!applied.ok)
      throw new Error(`the strategy does not validate: ${JSON.stringify(applied.diagnostics)}`);

    const cache = new StrategyCache();
    const runner = new ScenarioRunner(db, cache, { batchSize: batch });
    const [hh, mm] = BROADCAST_TIME.split(":").map(Number);
    t = performance.now();
    await runner.runOnce(takenUpAt(BROADCAST_DATE, (hh ?? 0) * 60 + (mm ?? 0)));
    const enterSeconds = (performance.now() - t) / 1000;
    const entries = await count(db, "scenario_entries", ws.id);
    log(`${entries} entries in ${enterSeconds.toFixed(2)} s; planning their messages`);
    t = performance.now();
    await withProgress(
      async () => `planning for ${round((performance.now() - t) / 1000)} s`,
      () => runner.runOnce(ALL_DUE_AT),
    );
    const planSeconds = (performance.now() - t) / 1000;
    const planned = await count(db, "messages", ws.id);
    log(`${planned} messages planned in ${planSeconds.toFixed(2)} s; deciding`);

    let decided = 0;
    t = performance.now();
    await withProgress(
      async () => `${decided} decided`,
      async () => {
        // the engine's decide: each pass runs a round in each lane at once, as that many workers would
        await drain(async () => {
          const n = await decideInLanes(db, cache, ALL_DUE_AT, batch, lanes);
          decided += n;
          return n;
        });
      },
    );
    const decideSeconds = (performance.now() - t) / 1000;
    const decidedFates = await fates(db, ws.id);
    log(`${decided} decided in ${decideSeconds.toFixed(2)} s: ${JSON.stringify(decidedFates)}`);

    const queued = (decidedFates["queued email"] ?? 0) + (decidedFates["queued sms"] ?? 0);
    const heldBack = sendAtMost === undefined ? 0 : await holdBack(db, ws.id, sendAtMost);
    await smtp.reset();
    const sender = new OutboxSender(db, cache, { publicUrl: "https://bench.invalid", env: {}, concurrency });
    t = performance.now();
    let tried = 0;
    await withProgress(
      async () => `${(await smtp.counts()).messages} emails at the server`,
      async () => {
        tried = await sender.runOnce(ALL_DUE_AT);
      },
    );
    const sendSeconds = (performance.now() - t) / 1000;
    const server = await smtp.reset();
    await sender.close();
    const sentFates = await fates(db, ws.id);
    const sentEmails = sentFates["sent email"] ?? 0;
    log(
      `${tried} sends tried in ${sendSeconds.toFixed(2)} s; the server accepted ${server.messages} ` +
        `(${server.recipients} recipients), the database says ${sentEmails} emails sent: ${JSON.stringify(sentFates)}`,
    );
    if (server.messages !== sentEmails || server.recipients !== server.messages)
      log(
        `MISMATCH: server ${server.messages} messages to ${server.recipients} recipients, ${sentEmails} sent`,
      );

    const limitCount = Math.min(limitSends, Math.max(server.messages, 1_000));
    log(`the limit: a bare nodemailer loop of ${limitCount} emails`);
    const loop = await nodemailerLoop({
      port: smtp.port,
      pool,
      concurrency,
      count: limitCount,
      onProgress: (n) => {
        if (n % 20_000 === 0) log(`bare loop: ${n} sent`);
      },
    });
    const bare = await smtp.reset();
    log(`bare loop: ${bare.messages} accepted in ${loop.seconds.toFixed(2)} s (${loop.failed} failed)`);

    const sending = { pool, concurrency, batch };
    return [
      {
        ...base,
        metric: "entries_per_second",
        value: round(entries / (enterSeconds + planSeconds)),
        unit: "entries/s",
        entries,
        messages_planned: planned,
        enter_seconds: round(enterSeconds, 2),
        plan_seconds: round(planSeconds, 2),
        note: "the schedule entering the audience, then the runner planning each entry's message",
      },
      {
        ...base,
        metric: "decisions_per_second",
        lanes,
        value: round(decided / decideSeconds),
        unit: "decisions/s",
        decided,
        seconds: round(decideSeconds, 2),
        batch,
        fates: decidedFates,
        note: "the outbox's decide phase alone, every rule on",
        ...(opts.scale === "full" ? { target: 20_000 } : {}),
      },
      {
        ...base,
        metric: "emails_per_second",
        value: round(server.messages / sendSeconds),
        unit: "emails/s",
        ...sending,
        queued,
        held_back: heldBack,
        smtp_accepted: server.messages,
        smtp_recipients: server.recipients,
        sent_in_database: sentEmails,
        bytes_per_email: round(server.bytes / Math.max(1, server.messages)),
        seconds: round(sendSeconds, 2),
        fates: sentFates,
        note: `the send phase: emails accepted by the SMTP server (a child process)${heldBack > 0 ? `; ${heldBack} queued emails held back (BENCH_BROADCAST_SEND)` : ""}`,
        ...(opts.scale === "full" ? { target: 3_000 } : {}),
      },
      {
        ...base,
        metric: "bare_nodemailer_emails_per_second",
        value: round(bare.messages / loop.seconds),
        unit: "emails/s",
        ...sending,
        emails: limitCount,
        smtp_accepted: bare.messages,
        failed: loop.failed,
        bytes_per_email: round(bare.bytes / Math.max(1, bare.messages)),
        seconds: round(loop.seconds, 2),
        note: "the limit: a pooled nodemailer transport alone, the same pool and sends in flight, to the same server",
      },
      {
        ...base,
        metric: "load_base_seconds",
        value: round(loadSeconds, 2),
        unit: "s",
        earlier_emails: history,
        note: "COPY of the customers, then the earlier emails (not part of any figure above)",
      },
    ];
  } finally {
    await target.close();
    await smtp.close();
  }
}

async function count(db: Db, table: "messages" | "scenario_entries", ws: number): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${table} WHERE workspace_id = $1 AND scenario = ANY($2::text[])`,
    [ws, SCENARIOS],
  );
  return Number(rows[0]?.n ?? 0);
}

/** The broadcast's messages by fate, reason and channel, e.g. `{"queued email": …, "suppressed control_group": …}`. */
async function fates(db: Db, ws: number): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{
    fate: string;
    reason: string | null;
    channel: string | null;
    n: string;
  }>(
    `SELECT fate, CASE WHEN fate IN ('queued', 'sending', 'sent') THEN NULL ELSE reason END AS reason, channel,
            count(*) AS n
       FROM messages WHERE workspace_id = $1 AND scenario = ANY($2::text[])
      GROUP BY 1, 2, 3 ORDER BY 4 DESC`,
    [ws, SCENARIOS],
  );
  const out: Record<string, number> = {};
  for (const r of rows) {
    const key = [r.fate, r.reason, r.fate === "queued" || r.fate === "sent" ? r.channel : null]
      .filter(Boolean)
      .join(" ");
    out[key] = (out[key] ?? 0) + Number(r.n);
  }
  return out;
}

/** Leaves only the first `n` queued emails due now: the rest wait a year, out of the send phase's way. */
async function holdBack(db: Db, ws: number, n: number): Promise<number> {
  const { rows } = await db.pool.query<{ id: string }>(
    `SELECT message_id AS id FROM messages WHERE workspace_id = $1 AND fate = 'queued' AND channel = 'email'
      ORDER BY message_id OFFSET $2 LIMIT 1`,
    [ws, n],
  );
  const first = rows[0]?.id;
  if (first === undefined) return 0;
  const r = await db.pool.query(
    `UPDATE messages SET due_at = due_at + interval '365 days'
      WHERE workspace_id = $1 AND fate = 'queued' AND channel = 'email' AND message_id >= $2`,
    [ws, first],
  );
  log(`${r.rowCount} queued emails held back; ${n} will be sent`);
  return r.rowCount ?? 0;
}

/** Runs `work`, logging `status()` every ten seconds. */
async function withProgress<T>(status: () => Promise<string>, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => {
    status().then(log, () => undefined);
  }, PROGRESS_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** A database of this run: on PostgreSQL created on the server and dropped at the end; PGlite in memory. */
async function openTarget(opts: RunOptions): Promise<BenchDatabase> {
  if (opts.backend === "pglite") {
    const db = await openDb({ dataDir: "memory://" });
    await migrate(db, APPLIED_AT);
    return { db, close: () => db.close() };
  }
  if (!opts.databaseUrl) throw new Error("the postgres backend needs a databaseUrl");
  return benchDatabase(opts.databaseUrl, `tact_bench_broadcast_${process.pid}`, APPLIED_AT);
}
