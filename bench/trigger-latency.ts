// Trigger latency benchmark: a triggering event accepted by the tracking API → its email accepted by an SMTP server.
//
// A real SMTP server listens on loopback in this process; `tact serve` runs as a child process (the same on both
// backends) with a strategy whose scenario sends a marketing email on `signed_up` (consent opt_in; the customers
// have opted in; no quiet hours, caps or control group to hold it back). The customers (one per event, with an
// email address) are loaded before the server starts. Then `POST /v1/track` events arrive at a steady rate, each
// for its own customer: small 100/s for 10 s, full 1,000/s for 60 s (the issue's target on PostgreSQL: p50 ≤ 100 ms,
// p99 ≤ 1 s). Latency: from the HTTP answer to the event until the SMTP server has taken the whole message (the end
// of DATA) for that customer's address, both read on this process's clock. Stragglers are waited for up to 60 s
// after the last event; every email that did not arrive is counted as missing, and the messages' fates in the
// database are reported beside it.
//
// Beside it, the limits measured in the same run: the tracking API's own answer time for the same requests, and
// a bare nodemailer send (a pooled transport, one message at a time) to the same SMTP server.
//
//   BENCH_TRIGGER_RATE (events/s) and BENCH_TRIGGER_SECONDS override the scale's load.
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import nodemailer from "nodemailer";
import { SMTPServer } from "smtp-server";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { emptyCustomer, loadSynthetic } from "../src/store/bulk-load.ts";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createKey, createWorkspace } from "../src/store/workspaces.ts";
import type { BenchFigure } from "./figure.ts";
import { freshDatabase, quantile, startTact, type TactProcess, type Target } from "./support.ts";
import { round } from "./traffic.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const LOAD = { small: { rate: 100, seconds: 10 }, full: { rate: 1000, seconds: 60 } } as const;
const TARGET = { p50: 100, p99: 1000 } as const;
const WARMUP = 50;
const STRAGGLERS_MS = 60_000;
/** requests in flight at most; past that the sender waits and the achieved rate says so */
const MAX_IN_FLIGHT = 2000;
// The channel's SMTP connections and the engine's sends in flight, set as a user would for a relay taking 1,000
// emails a second: with the defaults (5 and 16) each email's few round trips to the server bound the rate to
// 5 connections' worth while the machine is busy with the load (about 350 emails/s here).
const SMTP_POOL = Number(process.env.BENCH_TRIGGER_POOL) || 32;
const SEND_CONCURRENCY = process.env.TACT_SEND_CONCURRENCY || "128";
// `tact worker` processes beside `tact serve` (0 by default); with workers, BENCH_TRIGGER_SERVE_ENGINE=0 leaves
// the engine to them and `tact serve --no-engine` answers HTTP only
const WORKERS = Number(process.env.BENCH_TRIGGER_WORKERS) || 0;
const SERVE_ARGS = WORKERS > 0 && process.env.BENCH_TRIGGER_SERVE_ENGINE === "0" ? ["--no-engine"] : [];
const SMTP_FLOOR_SENDS = { small: 500, full: 2000 } as const;
const DOMAIN = "bench.example";

const log = (msg: string) => process.stderr.write(`[trigger-latency] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const strategy = (smtpPort: number) => `version: 1
name: Trigger latency bench
timezone: UTC
currency: EUR
goals:
  activated: { event: activated, window: 7d, target: 10% }
channels:
  email: { provider: smtp, host: 127.0.0.1, port: ${smtpPort}, from: "Bench <bench@example.com>", cost: 0.001, pool: ${SMTP_POOL} }
rules:
  consent: opt_in
  control_group: 0%
scenarios:
  welcome:
    goal: activated
    trigger: { event: signed_up }
    steps:
      - send: welcome
        via: [email]
templates:
  welcome:
    email:
      subject: "Welcome"
      html: "<p>Hello {{ customer.first_name | default: 'there' }}. <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
`;

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  const rate = Number(process.env.BENCH_TRIGGER_RATE) || LOAD[opts.scale].rate;
  const seconds = Number(process.env.BENCH_TRIGGER_SECONDS) || LOAD[opts.scale].seconds;
  const events = Math.round(rate * seconds);
  const smtp = new Sink();
  await smtp.listen();
  const target = await freshDatabase(opts.backend, opts.databaseUrl);
  let server: TactProcess | undefined;
  const workers: TactProcess[] = [];
  try {
    const { writeKey } = await prepare(target, smtp.port, events);
    const env = { TACT_SEND_CONCURRENCY: SEND_CONCURRENCY };
    server = await startTact(target, { log, env, args: SERVE_ARGS });
    for (let w = 0; w < WORKERS; w++) workers.push(await startTact(target, { log, env, command: "worker" }));
    log(`tact serve pid ${server.pid} on port ${server.port}, SMTP on ${smtp.port}`);
    const url = `http://127.0.0.1:${server.port}/v1/track`;
    const auth = `Basic ${Buffer.from(`${writeKey}:`).toString("base64")}`;

    // Warm-up (JIT, pools, the SMTP connections): a few events whose emails are waited for, not measured.
    const warm = await sendEvents(url, auth, WARMUP, 50, (i) => `w${i}`);
    await smtp.waitFor(warm.accepted.filter((a) => a !== null).length, 30_000);
    smtp.reset();

    log(`${events} events at ${rate}/s`);
    const load = await sendEvents(url, auth, events, rate, (i) => `u${i}`);
    const lastAccepted = Math.max(...load.accepted.map((a) => a ?? 0));
    const acceptedCount = load.accepted.filter((a) => a !== null).length;
    const waitLeft = Math.max(0, lastAccepted + STRAGGLERS_MS - performance.now());
    const allIn = await smtp.waitFor(acceptedCount, waitLeft);
    // counted before the bare sends below reach the same server
    log(`emails received per 5 s from the first event: ${smtp.perInterval(load.start, 5000).join(", ")}`);
    const emailSeconds = (performance.now() - load.start) / 1000;
    log(
      `${acceptedCount} events accepted, ${smtp.count()} emails received` +
        `${allIn ? "" : ` (stopped waiting ${STRAGGLERS_MS / 1000} s after the last event)`}`,
    );
    await server.stop();
    server = undefined;
    const fates = await messageFates(target);
    log(`messages by fate: ${JSON.stringify(fates)}`);

    // ---- the limit: a bare SMTP send to the same server --------------------------------------------------
    const floor = await smtpFloor(smtp.port, SMTP_FLOOR_SENDS[opts.scale]);

    // ---- figures ---------------------------------------------------------------------------------------------
    const latencies: number[] = [];
    const fromSent: number[] = [];
    let missing = 0;
    let early = 0;
    let slowest = { i: -1, ms: 0 };
    for (let i = 0; i < events; i++) {
      const accepted = load.accepted[i];
      if (accepted === null || accepted === undefined) continue;
      const got = smtp.at(`u${i}@${DOMAIN}`);
      if (got === undefined) {
        missing++;
        continue;
      }
      if (got < accepted) early++;
      latencies.push(got - accepted);
      if (got - accepted > slowest.ms) slowest = { i, ms: got - accepted };
      fromSent.push(got - (load.sent[i] as number));
    }
    fromSent.sort((a, b) => a - b);
    log(`p50 latency by tenth of the load, in ms: ${byTenth(load, smtp, events).join(", ")}`);
    if (slowest.i >= 0)
      log(
        `the slowest email, ${Math.round(slowest.ms)} ms: ${await timeline(target, `u${slowest.i}@${DOMAIN}`)}`,
      );
    latencies.sort((a, b) => a - b);
    const acceptLat = [...load.acceptMs].sort((a, b) => a - b);
    const sendSpan = (load.lastSent - load.start) / 1000;
    const acceptSpan = (lastAccepted - load.start) / 1000;
    const achieved = acceptedCount / Math.max(acceptSpan, 1e-9);
    const common = {
      bench: "trigger-latency",
      backend: opts.backend,
      scale: opts.scale,
      events,
      target_rate: rate,
      smtp_pool: SMTP_POOL,
      workers: WORKERS,
      serve_runs_engine: SERVE_ARGS.length === 0,
      send_concurrency: Number(SEND_CONCURRENCY),
      achieved_rate: round(achieved, 1),
      send_rate: round(acceptedCount / Math.max(sendSpan, 1e-9), 1),
      events_accepted: acceptedCount,
      events_not_sent: load.notSent,
      events_failed: events - load.notSent - acceptedCount,
      emails_received: latencies.length,
      emails_missing: missing,
      emails_before_answer: early,
      message_fates: fates,
    };
    const meets = opts.backend === "postgres" && opts.scale === "full";
    const q = (p: number) => round(quantile(latencies, p), 1);
    const figures: BenchFigure[] = [
      {
        ...common,
        metric: "event_to_email_p50_ms",
        value: q(0.5),
        unit: "ms",
        from_request_sent_ms: round(quantile(fromSent, 0.5), 1),
        ...(meets ? { target: TARGET.p50, meets_target: q(0.5) <= TARGET.p50 && missing === 0 } : {}),
      },
      { ...common, metric: "event_to_email_p95_ms", value: q(0.95), unit: "ms" },
      {
        ...common,
        metric: "event_to_email_p99_ms",
        value: q(0.99),
        unit: "ms",
        from_request_sent_ms: round(quantile(fromSent, 0.99), 1),
        ...(meets ? { target: TARGET.p99, meets_target: q(0.99) <= TARGET.p99 && missing === 0 } : {}),
      },
      {
        ...common,
        metric: "event_to_email_max_ms",
        value: round(latencies.at(-1) ?? Number.NaN, 1),
        unit: "ms",
      },
      {
        ...common,
        metric: "emails_received",
        value: latencies.length,
        unit: "emails",
        note: `of ${acceptedCount} events accepted; waited until ${round(emailSeconds, 1)} s after the first event`,
      },
      {
        ...common,
        metric: "achieved_event_rate",
        value: round(achieved, 1),
        unit: "events/s",
        note: "events accepted / time from the first event sent to the last answer (send_rate: to the last sent)",
      },
      {
        ...common,
        metric: "accept_p50_ms",
        value: round(quantile(acceptLat, 0.5), 1),
        unit: "ms",
        note: "the limit: the tracking API's answer to the same POST /v1/track requests",
      },
      {
        ...common,
        metric: "accept_p99_ms",
        value: round(quantile(acceptLat, 0.99), 1),
        unit: "ms",
        note: "the limit: the tracking API's answer to the same POST /v1/track requests",
      },
      {
        ...common,
        metric: "smtp_send_p50_ms",
        value: round(quantile(floor, 0.5), 2),
        unit: "ms",
        sends: floor.length,
        note: "the limit: a bare nodemailer send (pooled transport, one at a time) to the same SMTP server",
      },
      {
        ...common,
        metric: "smtp_send_p99_ms",
        value: round(quantile(floor, 0.99), 2),
        unit: "ms",
        sends: floor.length,
        note: "the limit: a bare nodemailer send (pooled transport, one at a time) to the same SMTP server",
      },
    ];
    return figures;
  } finally {
    agent.destroy();
    await Promise.all(workers.map((w) => w.stop()));
    await server?.stop();
    await smtp.close();
    await target.drop();
  }
}

/** The median latency of each tenth of the events in the order sent: flat when the engine keeps up. */
function byTenth(load: Load, smtp: Sink, events: number): string[] {
  const out: string[] = [];
  for (let d = 0; d < 10; d++) {
    const l: number[] = [];
    for (let i = Math.floor((d * events) / 10); i < Math.floor(((d + 1) * events) / 10); i++) {
      const a = load.accepted[i];
      const got = smtp.at(`u${i}@${DOMAIN}`);
      if (a !== null && a !== undefined && got !== undefined) l.push(got - a);
    }
    l.sort((a, b) => a - b);
    out.push(l.length > 0 ? quantile(l, 0.5).toFixed(0) : "-");
  }
  return out;
}

// ---- the database before the server starts -------------------------------------------------------------------

async function prepare(target: Target, smtpPort: number, events: number): Promise<{ writeKey: string }> {
  const db = target.url
    ? await openDb({ databaseUrl: target.url, poolSize: 2 })
    : await openDb({ dataDir: target.dataDir as string });
  try {
    const now = new Date();
    await migrate(db, now);
    const ws = await createWorkspace(db, "bench");
    const key = await createKey(db, "bench", "write");
    const applied = await applyStrategy(db, ws.id, strategy(smtpPort), "trigger-bench.yaml", "bench", now);
    if (!applied.ok) throw new Error(`the bench strategy does not load: ${applied.diagnostics[0]?.message}`);
    const at = new Date(now.getTime() - 86_400_000);
    const customer = (key: number, userId: string) => ({
      ...emptyCustomer(key),
      userId,
      email: `${userId}@${DOMAIN}`,
      consents: { email: { state: "opted_in" as const, at: at.toISOString() } },
      firstSeenAt: at,
      lastSeenAt: at,
    });
    const t0 = performance.now();
    await loadSynthetic(
      db,
      ws.id,
      (function* () {
        yield { customers: Array.from({ length: WARMUP }, (_, i) => customer(i, `w${i}`)), events: [] };
        for (let i = 0; i < events; i += 1000) {
          const customers = [];
          for (let k = i; k < Math.min(events, i + 1000); k++) customers.push(customer(WARMUP + k, `u${k}`));
          yield { customers, events: [] };
        }
      })(),
    );
    log(`${events + WARMUP} customers loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return { writeKey: key.key };
  } finally {
    await db.close();
  }
}

/** Runs `f` on the target's database, opened for it. */
async function reading<T>(target: Target, f: (db: Db) => Promise<T>): Promise<T> {
  const db = target.url
    ? await openDb({ databaseUrl: target.url, poolSize: 1 })
    : await openDb({ dataDir: target.dataDir as string });
  try {
    return await f(db);
  } finally {
    await db.close();
  }
}

function messageFates(target: Target): Promise<Record<string, number>> {
  return reading(target, async (db) => {
    const { rows } = await db.pool.query<{ fate: string; reason: string | null; n: string }>(
      "SELECT fate, reason, count(*) AS n FROM messages GROUP BY 1, 2 ORDER BY 3 DESC",
    );
    return Object.fromEntries(rows.map((r) => [r.reason ? `${r.fate}:${r.reason}` : r.fate, Number(r.n)]));
  });
}

/** Where a customer's email spent its time, as the database recorded it: each step in ms after the event was received. */
function timeline(target: Target, email: string): Promise<string> {
  return reading(target, async (db) => {
    const { rows } = await db.pool.query(
      `SELECT m.message_id, m.attempts, m.fate, m.last_error,
              round(extract(epoch FROM se.entered_at - ev.received_at) * 1000) AS entered_ms,
              round(extract(epoch FROM m.planned_at - ev.received_at) * 1000) AS planned_ms,
              round(extract(epoch FROM m.sent_at - ev.received_at) * 1000) AS sent_ms
         FROM customers c
         JOIN events ev ON ev.workspace_id = c.workspace_id AND ev.customer_id = c.customer_id AND ev.type = 'track'
         JOIN messages m ON m.workspace_id = c.workspace_id AND m.customer_id = c.customer_id
         LEFT JOIN scenario_entries se ON se.workspace_id = m.workspace_id AND se.entry_id = m.entry_id
        WHERE c.email = $1`,
      [email],
    );
    return JSON.stringify(rows);
  });
}

// ---- the load ----------------------------------------------------------------------------------------------

interface Load {
  start: number;
  lastSent: number;
  /** events left unsent when the sender gave up */
  notSent: number;
  /** per event: when its answer came (performance.now()), null when it was not accepted */
  accepted: (number | null)[];
  /** per event: when its request was first sent */
  sent: number[];
  /** answer times of the accepted requests */
  acceptMs: number[];
}

/** Sends `count` track events at `rate` per second (open loop: on schedule, whatever the answers take). */
async function sendEvents(
  url: string,
  auth: string,
  count: number,
  rate: number,
  userId: (i: number) => string,
): Promise<Load> {
  const accepted: (number | null)[] = new Array(count).fill(null);
  const sent: number[] = new Array(count).fill(Number.NaN);
  const acceptMs: number[] = [];
  const failures: string[] = [];
  const pending = new Set<Promise<void>>();
  const one = async (i: number) => {
    const body = JSON.stringify({
      userId: userId(i),
      event: "signed_up",
      messageId: `bench-${userId(i)}`,
      properties: { plan: "free" },
    });
    for (let attempt = 1; attempt <= 3; attempt++) {
      const t = performance.now();
      if (attempt === 1) sent[i] = t;
      let status = 0;
      let text = "";
      try {
        ({ status, text } = await post(url, auth, body));
      } catch (err) {
        text = (err as Error).message;
      }
      const now = performance.now();
      if (status === 200) {
        accepted[i] = now;
        acceptMs.push(now - t);
        return;
      }
      if (status !== 0 && status < 500) {
        failures.push(`event ${i}: HTTP ${status} ${text.slice(0, 200)}`);
        return;
      }
      if (attempt === 3) failures.push(`event ${i}: ${status || "no answer"} ${text.slice(0, 200)}`);
      else await sleep(200 * attempt);
    }
  };
  const interval = 1000 / rate;
  const start = performance.now();
  // a server that answers too slowly holds the sender back (MAX_IN_FLIGHT): past twice the planned time the
  // events left are not sent, and counted
  const stopAt = start + 2 * count * interval + 30_000;
  let lastSent = start;
  let i = 0;
  while (i < count) {
    const now = performance.now();
    if (now > stopAt) {
      log(`${count - i} events not sent: the server answered too slowly to keep the rate`);
      break;
    }
    while (i < count && start + i * interval <= now && pending.size < MAX_IN_FLIGHT) {
      const p = one(i++).finally(() => pending.delete(p));
      pending.add(p);
      lastSent = performance.now();
    }
    await sleep(1);
  }
  await Promise.all(pending);
  if (failures.length > 0)
    log(`${failures.length} events not accepted; first: ${failures.slice(0, 3).join(" | ")}`);
  return { start, lastSent, notSent: count - i, accepted, sent, acceptMs };
}

// The load generator shares the machine with what it measures: plain node:http on kept-alive connections costs it
// a fraction of the CPU that fetch did.
const agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });

function post(url: string, auth: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          authorization: auth,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

// ---- the SMTP server -------------------------------------------------------------------------------------------

/** A loopback SMTP server that keeps, per recipient, when the end of the message's data arrived. */
class Sink {
  port = 0;
  #received = new Map<string, number>();
  #waiters: { n: number; resolve: () => void }[] = [];
  readonly #server = new SMTPServer({
    secure: false,
    disabledCommands: ["STARTTLS"],
    authOptional: true,
    logger: false,
    size: 1024 * 1024,
    onData: (stream, session, cb) => {
      stream.on("data", () => {});
      stream.on("end", () => {
        const at = performance.now();
        for (const r of session.envelope.rcptTo) {
          if (!this.#received.has(r.address)) this.#received.set(r.address, at);
        }
        cb();
        this.#wake();
      });
    },
  });

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(0, "127.0.0.1", () => resolve());
    });
    const addr = this.#server.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
    this.#server.on("error", (err: Error) => log(`SMTP server: ${err.message}`));
  }

  count(): number {
    return this.#received.size;
  }

  /** How many messages arrived in each interval of `ms` after `start`. */
  perInterval(start: number, ms: number): number[] {
    const counts: number[] = [];
    for (const at of this.#received.values()) {
      const i = Math.max(0, Math.floor((at - start) / ms));
      while (counts.length <= i) counts.push(0);
      counts[i] = (counts[i] ?? 0) + 1;
    }
    return counts;
  }

  at(address: string): number | undefined {
    return this.#received.get(address);
  }

  reset(): void {
    this.#received.clear();
  }

  /** Resolves true once `n` recipients have been received, false after `ms`. */
  async waitFor(n: number, ms: number): Promise<boolean> {
    if (this.#received.size >= n) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<boolean>((resolve) => {
      this.#waiters.push({ n, resolve: () => resolve(true) });
      timer = setTimeout(() => resolve(false), ms);
    });
    const r = await done;
    clearTimeout(timer);
    this.#waiters = this.#waiters.filter((w) => w.n > this.#received.size);
    return r;
  }

  #wake(): void {
    for (const w of this.#waiters) if (this.#received.size >= w.n) w.resolve();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Bare sends, one at a time, through a pooled nodemailer transport like the SMTP channel's: each one's time. */
async function smtpFloor(port: number, sends: number): Promise<number[]> {
  const transport = nodemailer.createTransport({
    pool: true,
    host: "127.0.0.1",
    port,
    secure: false,
    maxConnections: 5,
  });
  const times: number[] = [];
  try {
    const html = "<p>Hello there. <a href='https://bench.example/u'>Unsubscribe</a></p>";
    for (let i = 0; i < sends + 20; i++) {
      const t = performance.now();
      await transport.sendMail({
        from: "Bench <bench@example.com>",
        to: `floor${i}@${DOMAIN}`,
        subject: "Welcome",
        text: "Hello there.",
        html,
      });
      if (i >= 20) times.push(performance.now() - t); // the first ones open the connection
    }
  } finally {
    transport.close();
  }
  return times.sort((a, b) => a - b);
}
