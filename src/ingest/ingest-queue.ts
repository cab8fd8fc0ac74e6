// The server's ingestion: a request is validated and committed to the ingestion log as one row (its body as it
// came), then applied to customers, identities and events by this process's applier, many requests at a time.
//
// - A small request (at most 100 messages: an interactive call such as a sign-up's identify, the web snippet, a
//   server SDK's flush) is answered once its messages are applied, so that a read right after sees them, when its
//   turn is expected within `maxWaitMs` (from the messages ahead of it and the rate of applying).
// - Otherwise (bulk batches, a burst) it is answered as soon as its log row is committed (`queued: true`). While
//   bulk batches keep arriving the applier gives way to them until they pause or the oldest waiting message is
//   `maxLagMs` old; small calls never hold it back.
// - At `backlogLimit` messages waiting, requests are refused with 503 and Retry-After until there is room.
//
// On a graceful stop the applier finishes this process's entries when that takes a few seconds at most; entries
// left in the log (a larger backlog, a crash) are applied by the next process to start, or by any running one
// after `orphanAfterMs`.
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Clock } from "../core/clock.ts";
import { type Db, withTransaction } from "../store/db.ts";
import {
  appendLogs,
  deleteEntries,
  type LogEntry,
  type LoggedRequest,
  lockEntries,
  logBacklog,
  markFailed,
  peekEntries,
} from "../store/ingest-log.ts";
import { noteGrowth } from "../store/statistics.ts";
import { type Workspace, workspacesById } from "../store/workspaces.ts";
import {
  type Applied,
  type Arrival,
  type Claimed,
  claimArrivals,
  type IngestOptions,
  type IngestResult,
  outcome,
  storeClaimed,
  validateMessages,
} from "./ingest.ts";
import { type BatchDefaults, isRejection, normalizeMessage, type TrackedEvent } from "./normalize.ts";
import type { CallType } from "./tracking-schema.ts";

export interface IngestQueueOptions {
  clock: Clock;
  logger?: Logger | undefined;
  /** a small request is answered once applied when its turn is expected within this (default 250 ms) */
  maxWaitMs?: number;
  /** refuse requests while this many messages wait (default 2,000,000) */
  backlogLimit?: number;
  /** the most a burst may put the applier behind before it applies alongside arrivals (default 60 s) */
  maxLagMs?: number;
  /** messages per applying transaction (default 5,000) */
  chunkEvents?: number;
  /** apply other processes' entries this old (default 30 s) */
  orphanAfterMs?: number;
  /** called after messages were applied */
  onApplied?: () => void;
}

export interface Submitted extends IngestResult {
  /** answered once logged, before being applied: duplicates of earlier requests are dropped when applied */
  queued: boolean;
}

export class BacklogFullError extends Error {}

interface Pending {
  loggedAt: number;
  events: number;
  resolve?: (applied: Applied | undefined) => void;
  reject?: (err: unknown) => void;
}

const QUIET_MS = 50;
const POLL_MS = 5_000;
const STOP_DRAIN_S = 5;
/** requests of at most this many messages are interactive calls, answered once applied when that is soon */
const SMALL_REQUEST = 100;

/** Writes of the log in flight at once, and the most one write takes: requests and payload bytes. */
const WRITES_IN_FLIGHT = 2;
const GROUP_REQUESTS = 500;
const GROUP_BYTES = 4_000_000;

/**
 * Requests logged at the same moment share one INSERT and one commit (a group commit): with a write free the
 * request goes at once; those arriving while the writes are busy go together in the next. One commit per request
 * cost more than the rest of accepting it when small calls stream in.
 */
class GroupAppender {
  readonly #waiting: { r: LoggedRequest; resolve: (id: string) => void; reject: (err: unknown) => void }[] =
    [];
  #inFlight = 0;

  constructor(private readonly db: Db) {}

  append(r: LoggedRequest): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ r, resolve, reject });
      this.#write();
    });
  }

  #write(): void {
    while (this.#inFlight < WRITES_IN_FLIGHT && this.#waiting.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.#waiting.length && n < GROUP_REQUESTS && (n === 0 || bytes < GROUP_BYTES))
        bytes += (this.#waiting[n++] as { r: LoggedRequest }).r.payload.length;
      const group = this.#waiting.splice(0, n);
      this.#inFlight++;
      appendLogs(
        this.db,
        group.map((g) => g.r),
      )
        .then(
          (ids) => {
            for (const [i, g] of group.entries()) g.resolve(ids[i] as string);
          },
          (err: unknown) => {
            for (const g of group) g.reject(err);
          },
        )
        .finally(() => {
          this.#inFlight--;
          this.#write();
        });
    }
  }
}

export class IngestQueue {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #maxWaitMs: number;
  readonly #limit: number;
  readonly #maxLagMs: number;
  readonly #chunk: number;
  readonly #orphanAfterMs: number;
  readonly #onApplied: (() => void) | undefined;
  /** entries this process logged and has not seen applied, by id, oldest first */
  readonly #mine = new Map<string, Pending>();
  readonly #appender: GroupAppender;
  /** messages waiting in the log, all processes: counted on append, read back after each chunk */
  #backlog = 0;
  /** when the last bulk batch was logged: bulk batches, not a stream of small calls, make a burst */
  #lastBulkArrival = 0;
  /** messages applied per second, a moving average over chunks */
  #rate = 5_000;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** a kick came while the applier was not asleep: its next sleep is skipped */
  #kicked = false;
  #stopped = true;
  #startedAt = new Date(0);

  constructor(db: Db, opts: IngestQueueOptions) {
    this.#db = db;
    this.#appender = new GroupAppender(db);
    this.#clock = opts.clock;
    this.#log = opts.logger;
    this.#maxWaitMs = opts.maxWaitMs ?? 250;
    this.#limit = opts.backlogLimit ?? 2_000_000;
    this.#maxLagMs = opts.maxLagMs ?? 60_000;
    this.#chunk = opts.chunkEvents ?? 5_000;
    this.#orphanAfterMs = opts.orphanAfterMs ?? 30_000;
    this.#onApplied = opts.onApplied;
  }

  /** Messages waiting to be applied, as this process last counted them. */
  get backlog(): number {
    return this.#backlog;
  }

  async submit(workspace: Workspace, request: TrackingRequest): Promise<Submitted> {
    const { messages, opts } = readRequest(request.call, request.body, request.receivedAt, request.text);
    const v = validateMessages(messages, opts);
    const n = v.events.length;
    if (n === 0) return { accepted: 0, duplicates: v.duplicates, rejected: v.rejected, queued: false };
    if (this.#backlog + n > this.#limit) {
      throw new BacklogFullError(`${this.#backlog} messages are waiting to be stored; retry in a moment`);
    }
    const kept = new Set(v.events.map((e) => e.index));
    const id = await this.#appender.append({
      workspaceId: workspace.id,
      receivedAt: request.receivedAt,
      events: n,
      call: request.call,
      payload: request.text,
      skip: messages.flatMap((_, i) => (kept.has(i) ? [] : [i])),
    });
    const pending: Pending = { loggedAt: performance.now(), events: n };
    const ahead = this.#backlog;
    this.#mine.set(id, pending);
    this.#backlog += n;
    if (n > SMALL_REQUEST) this.#lastBulkArrival = pending.loggedAt;
    const soon = n <= SMALL_REQUEST && ((ahead + n) / this.#rate) * 1000 <= this.#maxWaitMs;
    if (this.#stopped || !soon) {
      this.#kick();
      return { accepted: n, duplicates: v.duplicates, rejected: v.rejected, queued: true };
    }
    const applied = await new Promise<Applied | undefined>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
      this.#kick();
    });
    if (!applied) return { accepted: n, duplicates: v.duplicates, rejected: v.rejected, queued: true };
    return { ...outcome(v, applied), queued: false };
  }

  /** Starts applying in the background: what this process logs, and what stopped processes left. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#startedAt = this.#clock.now();
    this.#loop = this.#run().catch((err: unknown) => this.#log?.error({ err }, "ingestion applier stopped"));
  }

  /** Finishes the chunk being applied, and this process's entries when that is quick; the rest stays logged. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#kick();
    await this.#loop;
    let mine = 0;
    for (const p of this.#mine.values()) mine += p.events;
    if (mine > 0 && mine / this.#rate < STOP_DRAIN_S) {
      await this.drain().catch((err: unknown) =>
        this.#log?.warn({ err }, "entries left in the ingestion log"),
      );
    }
    for (const p of this.#mine.values()) p.resolve?.(undefined);
  }

  /** Applies everything this process logged, and orphans (tests, a graceful stop). Returns the messages handled. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.applyChunk();
      if (n === 0) return total;
      total += n;
    }
  }

  #kick(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake) wake();
    else this.#kicked = true;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#kicked) {
      this.#kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Arrivals come first during a burst of bulk batches, as long as nobody waits for an answer and the lag stays
   * bounded. A stream of small calls (events that may trigger a scenario) is applied as it comes, chunk by chunk.
   */
  #yieldToArrivals(): boolean {
    const now = performance.now();
    if (now - this.#lastBulkArrival >= QUIET_MS) return false;
    let oldest = Number.POSITIVE_INFINITY;
    for (const p of this.#mine.values()) {
      if (p.resolve) return false;
      oldest = Math.min(oldest, p.loggedAt);
    }
    return now - oldest < this.#maxLagMs;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      if (this.#yieldToArrivals()) {
        await this.#sleep(QUIET_MS);
        continue;
      }
      try {
        const n = await this.applyChunk();
        failures = 0;
        if (n === 0) await this.#sleep(POLL_MS);
      } catch (err) {
        // The database is unreachable or the chunk keeps conflicting: nothing is lost, try again shortly.
        failures++;
        this.#log?.warn({ err }, "applying the ingestion log failed; retrying");
        await this.#sleep(Math.min(100 * 2 ** failures, 10_000));
      }
    }
  }

  /**
   * Applies the oldest waiting entries, up to a chunk of messages, in one transaction. Returns the messages of the
   * entries it took (stored, repeated or refused; those another applier took meanwhile count too).
   */
  async applyChunk(): Promise<number> {
    const now = this.#clock.now();
    // before this process started, or long enough ago that its process must have stopped
    const orphanedBefore = new Date(Math.max(this.#startedAt.getTime(), now.getTime() - this.#orphanAfterMs));
    const entries = await peekEntries(this.#db, [...this.#mine.keys()], orphanedBefore, this.#chunk);
    if (entries.length === 0) {
      await this.#forgetApplied();
      return 0;
    }
    const started = performance.now();
    let applied: Map<string, Applied>;
    try {
      applied = await this.#apply(entries, now);
    } catch (err) {
      if (isTransient(err)) throw err;
      applied = await this.#applyOneByOne(entries, now, err);
    }
    let stored = 0;
    for (const [id, a] of applied) {
      stored += a.stored.size;
      const p = this.#mine.get(id);
      this.#mine.delete(id);
      p?.resolve?.(a);
    }
    this.#backlog = (await logBacklog(this.#db)).events;
    const seconds = (performance.now() - started) / 1000;
    if (stored >= 500 && seconds > 0) this.#rate = 0.7 * this.#rate + 0.3 * (stored / seconds);
    noteGrowth(this.#db, stored);
    if (stored > 0) this.#onApplied?.();
    // entries another applier took meanwhile count as applied too
    return Math.max(
      stored,
      entries.reduce((s, e) => s + e.events, 0),
    );
  }

  async #applyOneByOne(entries: LogEntry[], now: Date, first: unknown): Promise<Map<string, Applied>> {
    const out = new Map<string, Applied>();
    for (const e of entries) {
      try {
        for (const [id, a] of await this.#apply([e], now)) out.set(id, a);
      } catch (err) {
        if (isTransient(err)) throw err;
        const reason = err instanceof Error ? err.message : String(err);
        this.#log?.error({ err, entry: e.id, chunkError: first }, "an ingestion log entry cannot be applied");
        await markFailed(this.#db, e.id, reason);
        const p = this.#mine.get(e.id);
        this.#mine.delete(e.id);
        p?.reject?.(err);
      }
    }
    return out;
  }

  /**
   * Parses and claims outside the transaction (each claim is a short transaction of its own), then, in one
   * transaction, locks the entries still there, stores their messages and deletes them.
   */
  async #apply(entries: LogEntry[], now: Date): Promise<Map<string, Applied>> {
    const workspaces = await workspacesById(this.#db, [...new Set(entries.map((e) => e.workspaceId))]);
    // Each message gets an index unique in the chunk; `origin` maps it back to its entry and position.
    const origin: { entry: string; index: number }[] = [];
    const byWorkspace = new Map<number, Arrival[]>();
    for (const e of entries) {
      const list = byWorkspace.get(e.workspaceId) ?? [];
      byWorkspace.set(e.workspaceId, list);
      for (const event of loggedEvents(e)) {
        origin.push({ entry: e.id, index: event.index });
        event.index = origin.length - 1;
        list.push({ event, receivedAt: e.receivedAt });
      }
    }
    const claims: Claimed[] = [];
    for (const [wsId, arrivals] of byWorkspace) {
      const ws = workspaces.get(wsId);
      if (ws) claims.push(await claimArrivals(this.#db, ws, arrivals, now));
    }
    return withTransaction(this.#db, async (client) => {
      const locked = new Set(
        await lockEntries(
          client,
          entries.map((e) => e.id),
        ),
      );
      const out = new Map<string, Applied>();
      for (const id of locked) out.set(id, { stored: new Set(), erased: new Set() });
      for (const claimed of claims) {
        const a = await storeClaimed(client, claimed, now, (p) =>
          locked.has(origin[p.event.index]?.entry ?? ""),
        );
        for (const [kind, set] of [
          ["stored", a.stored],
          ["erased", a.erased],
        ] as const) {
          for (const i of set) {
            const o = origin[i] as { entry: string; index: number };
            out.get(o.entry)?.[kind].add(o.index);
          }
        }
      }
      await deleteEntries(client, [...locked]);
      return out;
    });
  }

  /**
   * Entries of this process that are gone from the log were applied by another process. Only the entries asked
   * about are judged: one logged while the question was out is not in its answer, yet still in the log.
   */
  async #forgetApplied(): Promise<void> {
    if (this.#mine.size === 0) {
      this.#backlog = (await logBacklog(this.#db)).events;
      return;
    }
    const asked = [...this.#mine.keys()];
    const { rows } = await this.#db.pool.query<{ id: string }>(
      "SELECT id FROM ingest_log WHERE id = ANY($1::bigint[])",
      [asked],
    );
    const present = new Set(rows.map((r) => r.id));
    for (const id of asked) {
      const p = this.#mine.get(id);
      if (!p || present.has(id)) continue;
      this.#mine.delete(id);
      p.resolve?.(undefined);
    }
  }
}

/** A tracking request as the API received it. */
export interface TrackingRequest {
  /** `batch`, or the call type of a single-call endpoint */
  call: "batch" | CallType;
  /** the parsed body: a batch, or one message */
  body: unknown;
  /** the body's text, which the log keeps */
  text: string;
  receivedAt: Date;
}

/** A request's messages, and how to read them: the batch's defaults, or the call type of the endpoint. */
function readRequest(
  call: string,
  body: unknown,
  receivedAt: Date,
  rawText?: string,
): { messages: readonly unknown[]; opts: IngestOptions } {
  if (call !== "batch") {
    return { messages: [body], opts: { receivedAt, rawText, typeFromPath: call as CallType } };
  }
  const b = body as { batch: unknown[] } & BatchDefaults;
  const defaults = { context: b.context, integrations: b.integrations, sentAt: b.sentAt };
  return { messages: b.batch, opts: { receivedAt, rawText, defaults } };
}

/** The events of a logged request, read as when it was accepted, without those it refused or repeated. */
function loggedEvents(e: LogEntry): TrackedEvent[] {
  const { messages, opts } = readRequest(e.call, JSON.parse(e.payload), e.receivedAt);
  const skip = new Set(e.skip);
  const out: TrackedEvent[] = [];
  for (let i = 0; i < messages.length; i++) {
    if (skip.has(i)) continue;
    const r = normalizeMessage(messages[i], i, e.receivedAt, opts.typeFromPath, opts.defaults);
    if (!isRejection(r)) out.push(r);
  }
  return out;
}

/** Errors that say nothing about the entries: the connection, the server shutting down, resources. */
function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && /^(08|53|57)/.test(code)) return true;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, …
  const message = err instanceof Error ? err.message : "";
  return /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error/i.test(
    message,
  );
}
