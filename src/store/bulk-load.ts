// Loads a whole generated customer base (customers, their identifiers and events) with COPY: the fast path for
// demos and benchmarks of millions of events, bypassing ingestion. The rows must already be consistent (the
// profile columns as ingestion would have computed them from the events); nothing is merged or deduplicated,
// so it is meant for an empty workspace.
import type { Db } from "./db.ts";
import { ensureEventPartitions } from "./partitions.ts";

/** A customer's profile, shaped for the `customers` table; `key` identifies it within the batches. */
export interface SyntheticCustomer {
  key: number;
  userId: string | null;
  /** anonymous ids (browsers, devices, bots) of this customer besides the user id */
  anonymousIds: string[];
  email: string | null;
  phone: string | null;
  telegramChatId: string | null;
  traits: Record<string, unknown>;
  traitsUpdatedAt: Date | null;
  timezone: string | null;
  locale: string | null;
  consents: Record<string, { state: "opted_in" | "unsubscribed"; at: string }>;
  preferredChannel: string | null;
  orders: number;
  revenue: number;
  firstOrderAt: Date | null;
  lastOrderAt: Date | null;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
}

/** A customer with no data yet: what a profile is before its first event. */
export function emptyCustomer(key: number): SyntheticCustomer {
  return {
    key,
    userId: null,
    anonymousIds: [],
    email: null,
    phone: null,
    telegramChatId: null,
    traits: {},
    traitsUpdatedAt: null,
    timezone: null,
    locale: null,
    consents: {},
    preferredChannel: null,
    orders: 0,
    revenue: 0,
    firstOrderAt: null,
    lastOrderAt: null,
    firstSeenAt: null,
    lastSeenAt: null,
  };
}

/** An event, shaped for the `events` table; `customerKey` is the `key` of its customer. */
export interface SyntheticEvent {
  customerKey: number;
  messageId: string;
  type: "track" | "page" | "screen" | "identify";
  name: string | null;
  occurredAt: Date;
  receivedAt: Date;
  properties: Record<string, unknown>;
  context: Record<string, unknown> | null;
}

/** Whole customers with all their events: an event's customer is in the same batch. */
export interface Batch {
  customers: SyntheticCustomer[];
  events: SyntheticEvent[];
}

export interface LoadCounts {
  customers: number;
  events: number;
}

const CUSTOMER_COPY =
  "COPY customers (workspace_id, customer_id, user_id, email, phone, telegram_chat_id, traits, traits_updated_at, " +
  "timezone, locale, consents, preferred_channel, orders, revenue, first_order_at, last_order_at, first_seen_at, " +
  "last_seen_at, created_at, updated_at) FROM STDIN";
const IDENTITY_COPY = "COPY identities (workspace_id, kind, value, customer_id, created_at) FROM STDIN";
const EVENT_COPY =
  "COPY events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties, context) " +
  "FROM STDIN";

/** Rows gathered before they are copied: large enough for COPY to run at full speed, small enough for memory. */
const EVENTS_PER_ROUND = 50_000;
const ROWS_PER_CHUNK = 5_000;

/**
 * Loads the batches into the workspace: customer ids come from `customer_id_seq`, user and anonymous ids become
 * identities, events go into their monthly partitions (created as needed). Ends with ANALYZE so the planner
 * knows the new sizes. Each round of rows is its own COPY: a failure leaves the rounds before it loaded.
 */
export async function loadSynthetic(
  db: Db,
  workspaceId: number,
  batches: Iterable<Batch> | AsyncIterable<Batch>,
  onProgress?: (done: LoadCounts) => void,
): Promise<LoadCounts> {
  const done: LoadCounts = { customers: 0, events: 0 };
  let round: Batch[] = [];
  let roundEvents = 0;
  const flush = async () => {
    await loadRound(db, workspaceId, round);
    for (const b of round) {
      done.customers += b.customers.length;
      done.events += b.events.length;
    }
    round = [];
    roundEvents = 0;
    onProgress?.({ ...done });
  };
  for await (const batch of batches) {
    round.push(batch);
    roundEvents += batch.events.length;
    if (roundEvents >= EVENTS_PER_ROUND) await flush();
  }
  if (round.length > 0) await flush();
  await db.pool.query("ANALYZE customers");
  await db.pool.query("ANALYZE identities");
  await db.pool.query("ANALYZE events");
  return done;
}

async function loadRound(db: Db, workspaceId: number, batches: Batch[]): Promise<void> {
  const customers = batches.flatMap((b) => b.customers);
  const ids = await allocateIds(db, customers);
  const months = new Map<string, Date>();
  for (const b of batches) {
    for (const e of b.events) {
      const d = e.occurredAt;
      const key = `${d.getUTCFullYear()}-${d.getUTCMonth()}`;
      if (!months.has(key)) months.set(key, d);
    }
  }
  await ensureEventPartitions(db, months.values());
  const ws = String(workspaceId);
  await db.copyIn(
    CUSTOMER_COPY,
    chunked(customers, (c) => customerLine(ws, idOf(ids, c.key), c)),
  );
  await db.copyIn(
    IDENTITY_COPY,
    chunked(customers, (c) => identityLines(ws, idOf(ids, c.key), c)),
  );
  const context = { last: null as Record<string, unknown> | null, json: "\\N" };
  const events = (function* () {
    for (const b of batches) yield* b.events;
  })();
  await db.copyIn(
    EVENT_COPY,
    chunked(events, (e) => eventLine(ws, idOf(ids, e.customerKey), e, context)),
  );
}

/** Takes one id per customer from the sequence ingestion uses, so later ingestion never collides. */
async function allocateIds(db: Db, customers: SyntheticCustomer[]): Promise<Map<number, string>> {
  const { rows } = await db.pool.query<{ id: string }>(
    "SELECT nextval('customer_id_seq')::text AS id FROM generate_series(1, $1::int)",
    [customers.length],
  );
  const ids = new Map<number, string>();
  customers.forEach((c, i) => {
    const row = rows[i];
    if (!row) throw new Error("the sequence returned fewer ids than asked");
    if (ids.has(c.key)) throw new Error(`customer key ${c.key} appears twice`);
    ids.set(c.key, row.id);
  });
  return ids;
}

function idOf(ids: Map<number, string>, key: number): string {
  const id = ids.get(key);
  if (id === undefined)
    throw new Error(`an event of customer ${key} is not in the same batch as its customer`);
  return id;
}

/** Encodes rows into buffers of whole rows (the embedded database copies buffer by buffer). */
function* chunked<T>(rows: Iterable<T>, line: (row: T) => string): Generator<Uint8Array> {
  let text = "";
  let n = 0;
  for (const row of rows) {
    text += line(row);
    if (++n === ROWS_PER_CHUNK) {
      yield Buffer.from(text);
      text = "";
      n = 0;
    }
  }
  if (text.length > 0) yield Buffer.from(text);
}

function customerLine(ws: string, id: string, c: SyntheticCustomer): string {
  const created = c.firstSeenAt ?? c.lastSeenAt;
  return `${[
    ws,
    id,
    copyValue(c.userId),
    copyValue(c.email),
    copyValue(c.phone),
    copyValue(c.telegramChatId),
    copyText(JSON.stringify(c.traits)),
    copyValue(c.traitsUpdatedAt),
    copyValue(c.timezone),
    copyValue(c.locale),
    copyText(JSON.stringify(c.consents)),
    copyValue(c.preferredChannel),
    String(c.orders),
    String(c.revenue),
    copyValue(c.firstOrderAt),
    copyValue(c.lastOrderAt),
    copyValue(c.firstSeenAt),
    copyValue(c.lastSeenAt),
    created ? created.toISOString() : "now",
    c.lastSeenAt ? c.lastSeenAt.toISOString() : "now",
  ].join("\t")}\n`;
}

function identityLines(ws: string, id: string, c: SyntheticCustomer): string {
  const at = copyValue(c.firstSeenAt ?? new Date(0));
  let out = c.userId === null ? "" : `${ws}\tuser\t${copyText(c.userId)}\t${id}\t${at}\n`;
  for (const anon of c.anonymousIds) out += `${ws}\tanon\t${copyText(anon)}\t${id}\t${at}\n`;
  return out;
}

function eventLine(
  ws: string,
  id: string,
  e: SyntheticEvent,
  context: { last: Record<string, unknown> | null; json: string },
): string {
  // Events of one customer usually share one context object: serialise it once.
  if (e.context !== context.last) {
    context.last = e.context;
    context.json = e.context === null ? "\\N" : copyText(JSON.stringify(e.context));
  }
  return `${ws}\t${id}\t${copyText(e.messageId)}\t${e.type}\t${copyValue(e.name)}\t${e.occurredAt.toISOString()}\t${e.receivedAt.toISOString()}\t${copyText(JSON.stringify(e.properties))}\t${context.json}\n`;
}

const SPECIAL = /[\\\t\n\r]/;

/** A value in COPY text format: backslash, tab, newline and carriage return escaped. */
export function copyText(s: string): string {
  if (!SPECIAL.test(s)) return s;
  return s.replace(/[\\\t\n\r]/g, (ch) =>
    ch === "\\" ? "\\\\" : ch === "\t" ? "\\t" : ch === "\n" ? "\\n" : "\\r",
  );
}

function copyValue(v: string | Date | null): string {
  if (v === null) return "\\N";
  return v instanceof Date ? v.toISOString() : copyText(v);
}
