// Prometheus metrics at GET /metrics, in the text exposition format 0.0.4: the engine's queues and how late their
// oldest due item is, messages by channel and fate, failures, webhook calls by state, and the process's memory and
// event-loop lag. Every
// figure about work is read from the database on each scrape, so any number of `serve` and `worker` processes
// report the same queues, and nothing is lost on restart.
import { timingSafeEqual } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { FastifyInstance } from "fastify";
import { type Clock, systemClock } from "../core/clock.ts";
import type { Db } from "../store/db.ts";
import { MEMBERSHIP_DUE_SQL } from "../store/memberships.ts";
import { ENTRY_DUE_SQL } from "../store/scenario-entries.ts";
import { WEBHOOK_DUE_SQL } from "../store/webhook-calls.ts";
import { errorBody } from "./errors.ts";

export interface MetricsOptions {
  clock?: Clock;
  /** when set, a scrape must send `Authorization: Bearer <token>` (TACT_METRICS_TOKEN) */
  token?: string | undefined;
}

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: { labels: Labels; value: number }[];
}

/** Fates of messages still on their way: the engine's message queues. */
const QUEUE_FATES = ["planned", "deferred", "awaiting_approval", "queued", "sending"];
/** Fates of messages that reached the channel: a send happened, whatever came after. */
const SENT_FATES = ["sent", "delivered", "opened", "clicked", "bounced"];

export function registerMetrics(app: FastifyInstance, db: Db, opts: MetricsOptions = {}): void {
  const clock = opts.clock ?? systemClock;
  const token = opts.token ?? process.env.TACT_METRICS_TOKEN;
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  app.addHook("onClose", async () => loopDelay.disable());
  app.get("/metrics", async (req, reply) => {
    if (token && !bearerMatches(req.headers.authorization, token)) {
      return reply
        .code(401)
        .send(
          errorBody(
            "unauthorized",
            "metrics need Authorization: Bearer <TACT_METRICS_TOKEN>",
            "authorization",
          ),
        );
    }
    const now = clock.now();
    const work = await readWork(db, now);
    const families = [
      ...queueFamilies(work, now),
      ...messageFamilies(work),
      ...webhookFamilies(work),
      ...processFamilies(loopDelay),
    ];
    loopDelay.reset();
    return reply
      .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
      .send(exposition(families));
  });
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer\s+(.+)$/i.exec(header ?? "")?.[1]?.trim() ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

interface WorkRows {
  messages: { workspace: string; channel: string | null; fate: string; n: string }[];
  entries: { workspace: string; active: string; due: string }[];
  memberships: { workspace: string; due: string }[];
  inbox: { workspace: string; n: string }[];
  ingest: { workspace: string; waiting: string; failed: string }[];
  lags: { queue: string; oldest: Date | null }[];
  webhooks: { workspace: string; state: string; n: string }[];
}

async function readWork(db: Db, now: Date): Promise<WorkRows> {
  const q = <R extends object>(sql: string, params: unknown[] = []) =>
    db.pool.query<R>(sql, params).then((r) => r.rows);
  const [messages, entries, memberships, inbox, ingest, lags, webhooks] = await Promise.all([
    q<WorkRows["messages"][number]>(
      `SELECT w.name AS workspace, m.channel, m.fate, count(*) AS n
         FROM messages m JOIN workspaces w ON w.workspace_id = m.workspace_id GROUP BY 1, 2, 3`,
    ),
    q<WorkRows["entries"][number]>(
      `SELECT w.name AS workspace, count(*) AS active, count(*) FILTER (WHERE e.due_at <= $1) AS due
         FROM scenario_entries e JOIN workspaces w ON w.workspace_id = e.workspace_id
        WHERE e.state = 'active' GROUP BY 1`,
      [now],
    ),
    q<WorkRows["memberships"][number]>(
      `SELECT w.name AS workspace, count(*) AS due FROM membership_due d
         JOIN workspaces w ON w.workspace_id = d.workspace_id WHERE d.due_at <= $1 GROUP BY 1`,
      [now],
    ),
    q<WorkRows["inbox"][number]>(
      `SELECT w.name AS workspace, count(*) AS n FROM engine_inbox i
         JOIN workspaces w ON w.workspace_id = i.workspace_id GROUP BY 1`,
    ),
    q<WorkRows["ingest"][number]>(
      `SELECT w.name AS workspace, coalesce(sum(l.events) FILTER (WHERE l.failed IS NULL), 0) AS waiting,
              count(*) FILTER (WHERE l.failed IS NOT NULL) AS failed
         FROM ingest_log l JOIN workspaces w ON w.workspace_id = l.workspace_id GROUP BY 1`,
    ),
    // Each queue's oldest due item: messages planned or deferred wait for a decision, queued ones for a send.
    q<WorkRows["lags"][number]>(
      `SELECT 'scenario_entries' AS queue, min(due_at) AS oldest FROM scenario_entries WHERE ${ENTRY_DUE_SQL}
       UNION ALL SELECT 'messages', min(due_at) FROM messages
        WHERE fate IN ('planned', 'deferred', 'queued') AND due_at <= $1
       UNION ALL SELECT 'memberships', min(due_at) FROM membership_due WHERE ${MEMBERSHIP_DUE_SQL}
       UNION ALL SELECT 'engine_inbox', min(received_at) FROM engine_inbox
       UNION ALL SELECT 'ingest_log', min(received_at) FROM ingest_log WHERE failed IS NULL
       UNION ALL SELECT 'webhook_calls', min(due_at) FROM webhook_calls WHERE ${WEBHOOK_DUE_SQL}`,
      [now],
    ),
    q<WorkRows["webhooks"][number]>(
      `SELECT w.name AS workspace, c.state, count(*) AS n
         FROM webhook_calls c JOIN workspaces w ON w.workspace_id = c.workspace_id GROUP BY 1, 2`,
    ),
  ]);
  return { messages, entries, memberships, inbox, ingest, lags, webhooks };
}

function queueFamilies(w: WorkRows, now: Date): Family[] {
  return [
    {
      name: "tact_queue_messages",
      help: "Messages waiting in the engine, by fate: planned and deferred wait for a decision, awaiting_approval for a person, queued and sending for their channel.",
      type: "gauge",
      samples: sumBy(
        w.messages.filter((m) => QUEUE_FATES.includes(m.fate)),
        (m) => ({ workspace: m.workspace, fate: m.fate }),
      ),
    },
    {
      name: "tact_queue_scenario_entries",
      help: "Customers inside a scenario (active entries).",
      type: "gauge",
      samples: perWorkspace(w.entries, (e) => e.active),
    },
    {
      name: "tact_queue_scenario_entries_due",
      help: "Active scenario entries whose next step is due now.",
      type: "gauge",
      samples: perWorkspace(w.entries, (e) => e.due),
    },
    {
      name: "tact_queue_memberships_due",
      help: "Customers whose segments and stages are due to be recomputed now.",
      type: "gauge",
      samples: perWorkspace(w.memberships, (m) => m.due),
    },
    {
      name: "tact_queue_engine_inbox",
      help: "Events waiting for the scenario runner (triggers, waits, goals).",
      type: "gauge",
      samples: perWorkspace(w.inbox, (i) => i.n),
    },
    {
      name: "tact_queue_ingest_messages",
      help: "Tracked messages accepted (committed to the ingestion log) and not yet applied to customers and events.",
      type: "gauge",
      samples: perWorkspace(w.ingest, (i) => i.waiting),
    },
    {
      name: "tact_ingest_failed_entries",
      help: "Ingestion log entries that could not be applied and are kept for inspection.",
      type: "gauge",
      samples: perWorkspace(w.ingest, (i) => i.failed),
    },
    {
      name: "tact_due_lag_seconds",
      help: "Seconds between now and the oldest item of a queue that is due and not yet done (0 when none is late).",
      type: "gauge",
      samples: w.lags.map((l) => ({
        labels: { queue: l.queue },
        value: l.oldest ? Math.max(0, (now.getTime() - new Date(l.oldest).getTime()) / 1000) : 0,
      })),
    },
  ];
}

function messageFamilies(w: WorkRows): Family[] {
  const channel = (m: { channel: string | null }) => m.channel ?? "none";
  const withFate = (fates: readonly string[]) => w.messages.filter((m) => fates.includes(m.fate));
  return [
    {
      name: "tact_messages",
      help: "Messages by workspace, channel and current fate (a message moves from fate to fate).",
      type: "gauge",
      samples: sumBy(w.messages, (m) => ({ workspace: m.workspace, channel: channel(m), fate: m.fate })),
    },
    {
      name: "tact_messages_sent_total",
      help: "Messages handed to their channel (sent, and whatever came after: delivered, opened, clicked, bounced).",
      type: "counter",
      samples: sumBy(withFate(SENT_FATES), (m) => ({ workspace: m.workspace, channel: channel(m) })),
    },
    {
      name: "tact_messages_failed_total",
      help: "Messages that failed for good (the channel refused them, or they could not be rendered).",
      type: "counter",
      samples: sumBy(withFate(["failed"]), (m) => ({ workspace: m.workspace, channel: channel(m) })),
    },
  ];
}

function webhookFamilies(w: WorkRows): Family[] {
  const inState = (states: readonly string[]) => w.webhooks.filter((c) => states.includes(c.state));
  return [
    {
      name: "tact_queue_webhook_calls",
      help: "Calls of webhook steps still to be made: planned (waiting for their time, or for a retry) and sending.",
      type: "gauge",
      samples: sumBy(inState(["planned", "sending"]), (c) => ({ workspace: c.workspace, state: c.state })),
    },
    {
      name: "tact_webhook_calls_total",
      help: "Calls of webhook steps that ended, by outcome: sent (the receiver answered 2xx) or failed.",
      type: "counter",
      samples: sumBy(inState(["sent", "failed"]), (c) => ({ workspace: c.workspace, outcome: c.state })),
    },
  ];
}

function perWorkspace<R extends { workspace: string }>(
  rows: readonly R[],
  value: (r: R) => string,
): Family["samples"] {
  return rows.map((r) => ({ labels: { workspace: r.workspace }, value: Number(value(r)) }));
}

/** Adds up counted rows under the labels `key` gives them. */
function sumBy<R extends { n: string }>(rows: readonly R[], key: (r: R) => Labels): Family["samples"] {
  const out = new Map<string, { labels: Labels; value: number }>();
  for (const r of rows) {
    const labels = key(r);
    const k = JSON.stringify(labels);
    const s = out.get(k) ?? { labels, value: 0 };
    s.value += Number(r.n);
    out.set(k, s);
  }
  return [...out.values()];
}

function processFamilies(loopDelay: ReturnType<typeof monitorEventLoopDelay>): Family[] {
  const mem = process.memoryUsage();
  const usage = process.cpuUsage();
  const ns = (v: number) => (Number.isFinite(v) ? v / 1e9 : 0);
  const one = (value: number) => [{ labels: {}, value }];
  return [
    {
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      type: "gauge",
      samples: one(mem.rss),
    },
    {
      name: "nodejs_heap_used_bytes",
      help: "V8 heap in use, in bytes.",
      type: "gauge",
      samples: one(mem.heapUsed),
    },
    {
      name: "process_cpu_seconds_total",
      help: "User and system CPU time spent, in seconds.",
      type: "counter",
      samples: one((usage.user + usage.system) / 1e6),
    },
    {
      name: "process_start_time_seconds",
      help: "Start time of the process since the Unix epoch, in seconds.",
      type: "gauge",
      samples: one(Math.round(Date.now() / 1000 - process.uptime())),
    },
    {
      name: "nodejs_eventloop_lag_seconds",
      help: "Event-loop delay since the previous scrape: mean of the samples.",
      type: "gauge",
      samples: one(loopDelay.count > 0 ? ns(loopDelay.mean) : 0),
    },
    {
      name: "nodejs_eventloop_lag_max_seconds",
      help: "Event-loop delay since the previous scrape: the largest sample.",
      type: "gauge",
      samples: one(loopDelay.count > 0 ? ns(loopDelay.max) : 0),
    },
    {
      name: "nodejs_eventloop_lag_p99_seconds",
      help: "Event-loop delay since the previous scrape: the 99th percentile.",
      type: "gauge",
      samples: one(loopDelay.count > 0 ? ns(loopDelay.percentile(99)) : 0),
    },
  ];
}

/** The text exposition format 0.0.4: HELP and TYPE once per family, then its samples. */
export function exposition(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
        .join(",");
      lines.push(`${f.name}${labels ? `{${labels}}` : ""} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return String(v);
}
