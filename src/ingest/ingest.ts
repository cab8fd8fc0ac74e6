// The ingestion pipeline shared by the tracking API and CSV import: validate and correct each message, then in
// one transaction claim message ids, resolve identities, merge, create or update customers and store events.
// Bad messages are rejected one by one; the good ones of the same batch are committed.
import { createHash } from "node:crypto";
import {
  type EventIdentity,
  type IdentityKey,
  type KnownCustomer,
  keyString,
  resolveIdentities,
} from "../core/identity/resolve.ts";
import {
  CustomerIdPool,
  type CustomerPatch,
  holdCustomers,
  insertBareCustomers,
  insertCustomers,
  insertIdentities,
  lookupIdentities,
  mergeCustomers,
  type Queryable,
  setUserIds,
  updateCustomers,
} from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import { copyToInbox } from "../store/engine-inbox.ts";
import { claimMessageIds, type EventRow, insertEvents } from "../store/events.ts";
import { ALL_CHANGED, markDue } from "../store/memberships.ts";
import { ensureEventPartitions } from "../store/partitions.ts";
import { noteGrowth } from "../store/statistics.ts";
import type { Workspace } from "../store/workspaces.ts";
import {
  type BatchDefaults,
  isRejection,
  jsonUnits,
  normalizeMessage,
  type Rejection,
  type TrackedEvent,
} from "./normalize.ts";
import {
  contactKeys,
  foldDeltas,
  normalizeEmail,
  normalizePhone,
  type ProfileDelta,
  profileDelta,
} from "./profile.ts";
import { type CallType, LIMITS } from "./tracking-schema.ts";

export interface IngestOptions {
  receivedAt: Date;
  typeFromPath?: CallType;
  defaults?: BatchDefaults;
  /**
   * The request's body as text, when the messages came in one: a message of a body without `\u` escapes that is
   * clearly small passes the checks of storable text and size without being serialised.
   */
  rawText?: string;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: Rejection[];
}

/** A request's messages after validation: what is kept, what is refused and why, repeats within the request. */
export interface Validated {
  events: TrackedEvent[];
  rejected: Rejection[];
  duplicates: number;
}

/** A validated event to store, with the moment its request was received. */
export interface Arrival {
  event: TrackedEvent;
  receivedAt: Date;
}

/** What became of applied events, by `event.index`: stored, or refused as an erased person's. */
export interface Applied {
  stored: Set<number>;
  erased: Set<number>;
}

export interface Prepared {
  event: TrackedEvent;
  receivedAt: Date;
  delta: ProfileDelta;
  identity: EventIdentity;
  propertiesJson: string;
  contextJson: string | null;
}

// A NUL or an unpaired surrogate is valid JSON but not valid PostgreSQL text.
const BAD_JSON_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

const ERASED_REASON = "this person's data was erased at their request; it is not stored again";

/** Validates and clock-corrects a request's messages; needs no database. */
export function validateMessages(raws: readonly unknown[], opts: IngestOptions): Validated {
  const rejected: Rejection[] = [];
  const events: TrackedEvent[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  // Without a `\u` escape in the body no message holds a NUL or an unpaired surrogate (JSON text cannot carry
  // them raw); a message whose JSON is at most a sixth of the limit in UTF-16 units is within it in bytes.
  const clean = opts.rawText !== undefined && !opts.rawText.includes("\\u");
  const shared = clean ? jsonUnits(opts.defaults?.context) + jsonUnits(opts.defaults?.integrations) : 0;

  for (let i = 0; i < raws.length; i++) {
    const r = normalizeMessage(raws[i], i, opts.receivedAt, opts.typeFromPath, opts.defaults);
    if (isRejection(r)) {
      rejected.push(r);
      continue;
    }
    if (!clean || (shared + jsonUnits(raws[i])) * 6 > LIMITS.eventBytes) {
      const problem = unstorable(r);
      if (problem) {
        rejected.push({ index: i, path: "", reason: problem });
        continue;
      }
    }
    if (seen.has(r.messageId)) {
      duplicates++;
      continue;
    }
    seen.add(r.messageId);
    events.push(r);
  }
  return { events, rejected, duplicates };
}

/** Why a message cannot be stored: over the size limit, or text PostgreSQL cannot hold. */
function unstorable(r: TrackedEvent): string | undefined {
  const properties = JSON.stringify(r.properties);
  const context = r.context ? JSON.stringify(r.context) : "";
  if (properties.length + context.length > LIMITS.eventBytes / 3) {
    if (Buffer.byteLength(properties) + Buffer.byteLength(context) > LIMITS.eventBytes) {
      return `message is larger than ${LIMITS.eventBytes} bytes`;
    }
  }
  const ids = JSON.stringify([r.messageId, r.name, r.userId, r.anonymousId, r.previousId, r.traits]);
  if (BAD_JSON_ESCAPE.test(properties) || BAD_JSON_ESCAPE.test(context) || BAD_JSON_ESCAPE.test(ids)) {
    return "text contains a NUL character or an unpaired surrogate";
  }
  return undefined;
}

/** Validates and stores messages at once (CSV import, simulation, tests); the server goes through the log. */
export async function ingestMessages(
  db: Db,
  workspace: Workspace,
  raws: readonly unknown[],
  opts: IngestOptions,
): Promise<IngestResult> {
  const v = validateMessages(raws, opts);
  if (v.events.length === 0) return { accepted: 0, duplicates: v.duplicates, rejected: v.rejected };
  const applied = await applyEvents(
    db,
    workspace,
    v.events.map((event) => ({ event, receivedAt: opts.receivedAt })),
    opts.receivedAt,
  );
  return outcome(v, applied);
}

/** A request's result once its events are applied. */
export function outcome(v: Validated, applied: Applied): IngestResult {
  const rejected = [
    ...v.rejected,
    ...[...applied.erased].map((index) => ({ index, path: "", reason: ERASED_REASON })),
  ].sort((a, b) => a.index - b.index);
  const stored = v.events.filter((e) => applied.stored.has(e.index)).length;
  return {
    accepted: stored,
    duplicates: v.duplicates + v.events.length - stored - applied.erased.size,
    rejected,
  };
}

/**
 * Stores validated events: claims their message ids, resolves identities, merges, creates or updates customers
 * and inserts the events, in one transaction. `event.index` must be unique among `arrivals`; a message id seen
 * before, or twice among them, is stored once.
 */
export async function applyEvents(
  db: Db,
  workspace: Workspace,
  arrivals: readonly Arrival[],
  now: Date,
): Promise<Applied> {
  const claimed = await claimArrivals(db, workspace, arrivals, now);
  const applied = await withTransaction(db, (client) => storeClaimed(client, claimed, now));
  noteGrowth(db, applied.stored.size);
  return applied;
}

/** Arrivals made ready to store: new identifiers recorded, what the store knows of each looked up. */
export interface Claimed {
  readonly workspace: Workspace;
  readonly idPool: CustomerIdPool;
  /** events go in with COPY (a PostgreSQL server) */
  readonly copy: boolean;
  readonly prepared: readonly Prepared[];
  /** what the store knew at claim time; used by the first attempt to store, a retry looks again */
  hint: Known | undefined;
}

/**
 * The part of storing that runs before the storing transaction, each in its own: event partitions, and the
 * claim of new identifiers (see `claimNewIdentities`).
 */
export async function claimArrivals(
  db: Db,
  workspace: Workspace,
  arrivals: readonly Arrival[],
  now: Date,
): Promise<Claimed> {
  const seen = new Set<string>();
  const prepared: Prepared[] = [];
  for (const { event: r, receivedAt } of arrivals) {
    if (seen.has(r.messageId)) continue;
    seen.add(r.messageId);
    const delta = profileDelta(r, workspace.settings);
    prepared.push({
      event: r,
      receivedAt,
      delta,
      identity: {
        userId: r.userId,
        anonymousId: r.anonymousId,
        previousId: r.previousId,
        contactKeys: contactKeys(delta, workspace.settings),
      },
      propertiesJson: JSON.stringify(r.properties),
      contextJson: r.context ? JSON.stringify(r.context) : null,
    });
  }
  let idPool = idPools.get(db);
  if (!idPool) {
    idPool = new CustomerIdPool();
    idPools.set(db, idPool);
  }
  const copy = db.backend === "postgres";
  if (prepared.length === 0) return { workspace, idPool, copy, prepared, hint: undefined };
  await ensureEventPartitions(
    db,
    prepared.map((p) => p.event.occurredAt),
  );
  const hint = await claimNewIdentities(db, idPool, workspace, prepared, now);
  return { workspace, idPool, copy, prepared, hint };
}

/** Stores claimed arrivals inside the caller's transaction; only those `keep` accepts, when given. */
export async function storeClaimed(
  client: Queryable,
  claimed: Claimed,
  now: Date,
  keep?: (p: Arrival) => boolean,
): Promise<Applied> {
  const known = claimed.hint;
  claimed.hint = undefined;
  const prepared = keep ? claimed.prepared.filter(keep) : claimed.prepared;
  if (prepared.length === 0) return { stored: new Set(), erased: new Set() };
  return store(client, claimed, [...prepared], now, known);
}

const idPools = new WeakMap<Db, CustomerIdPool>();

export interface Known {
  known: Map<string, string>;
  customers: Map<string, KnownCustomer>;
}

function batchKeys(batch: Prepared[]): IdentityKey[] {
  const keys = new Map<string, IdentityKey>();
  const addKey = (k: IdentityKey) => keys.set(keyString(k), k);
  for (const { identity: e } of batch) {
    if (e.userId) addKey({ kind: "user", value: e.userId });
    if (e.anonymousId) addKey({ kind: "anon", value: e.anonymousId });
    if (e.previousId) {
      addKey({ kind: "user", value: e.previousId });
      addKey({ kind: "anon", value: e.previousId });
    }
    for (const k of e.contactKeys) addKey(k);
  }
  return [...keys.values()];
}

async function lookup(client: Queryable, workspaceId: number, keys: IdentityKey[]): Promise<Known> {
  const found = await lookupIdentities(client, workspaceId, keys);
  const known = new Map<string, string>();
  const customers = new Map<string, KnownCustomer>();
  for (const row of found) {
    known.set(`${row.kind}:${row.value}`, row.customer_id);
    customers.set(row.customer_id, { customerId: row.customer_id, userId: row.user_id });
  }
  return { known, customers };
}

function resolve(batch: Prepared[], k: Known, ids: string[]) {
  let next = 0;
  return resolveIdentities(
    batch.map((p) => p.identity),
    k.known,
    k.customers,
    () => {
      const id = ids[next++];
      if (id === undefined) throw new Error("identity resolution allocated more customers than identifiers");
      return id;
    },
  );
}

function withMore(k: Known, more: Known): Known {
  return {
    known: new Map([...k.known, ...more.known]),
    customers: new Map([...k.customers, ...more.customers]),
  };
}

const unmappedCount = (keys: IdentityKey[], k: Known) =>
  keys.filter((key) => (key.kind === "user" || key.kind === "anon") && !k.known.has(keyString(key))).length;

const CLAIM_LOCK = 7_274_003;

/**
 * Records the batch's new identifiers, and creates the customers they make, in a short transaction of its own,
 * one at a time per workspace (an advisory lock): two requests for the same new person never race, the second
 * simply finds what the first recorded. Batches whose identifiers are all known skip this. Returns what the store
 * knows about every identifier of the batch, for the write that follows.
 */
async function claimNewIdentities(
  db: Db,
  idPool: CustomerIdPool,
  workspace: Workspace,
  all: Prepared[],
  at: Date,
): Promise<Known> {
  const keys = batchKeys(all);
  const first = await lookup(db.pool, workspace.id, keys);
  const unknown = keys.filter((key) => !first.known.has(keyString(key)));
  if (unknown.length === 0) return first;
  let attempt = 0;
  return withTransaction(db, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock($1, $2)", [CLAIM_LOCK, workspace.id]);
    // Under the lock, only the identifiers unknown a moment ago need a second look: what was known is checked
    // by holding its customers below (a retry, after a concurrent merge or erasure, looks at everything again).
    const k =
      attempt++ === 0
        ? withMore(first, await lookup(client, workspace.id, unknown))
        : await lookup(client, workspace.id, keys);
    if (keys.every((key) => k.known.has(keyString(key)))) return k;
    const erased = await findErased(client, workspace, all, k.known);
    const batch = erased.size > 0 ? all.filter((p) => !erased.has(p.event.index)) : all;
    const r = resolve(batch, k, await idPool.take(client, unmappedCount(keys, k)));
    const claims = [...r.newIdentities.values()].map((v) => ({ ...v.key, customerId: v.customerId }));
    const created = [...r.created].map(([customerId, c]) => ({ customerId, userId: c.userId }));
    const existing = [...new Set(claims.map((c) => c.customerId))].filter((id) => !r.created.has(id));
    await holdCustomers(client, workspace.id, existing); // not merged away under the new identifiers
    await insertBareCustomers(client, workspace.id, created);
    await insertIdentities(client, workspace.id, claims, at);
    const identified = existing
      .map((customerId) => ({ customerId, userId: r.userIdOf.get(customerId) ?? null }))
      .filter(
        (c): c is { customerId: string; userId: string } =>
          c.userId !== null && !k.customers.get(c.customerId)?.userId,
      );
    await setUserIds(client, workspace.id, identified);
    for (const c of claims) k.known.set(`${c.kind}:${c.value}`, c.customerId);
    for (const c of [...created, ...identified]) k.customers.set(c.customerId, c);
    return k;
  });
}

async function store(
  client: Queryable,
  claimed: Claimed,
  all: Prepared[],
  receivedAt: Date,
  hint: Known | undefined,
): Promise<Applied> {
  const { idPool, workspace } = claimed;
  const ws = workspace.id;
  const fresh = await claimMessageIds(
    client,
    ws,
    all.map((p) => p.event.messageId),
    receivedAt,
  );
  let batch = all.filter((p) => fresh.has(p.event.messageId));
  if (batch.length === 0) return { stored: new Set(), erased: new Set() };

  const keys = batchKeys(batch);
  const k = hint ?? (await lookup(client, ws, keys));
  const known = k.known;

  const erased = await findErased(client, workspace, batch, known);
  if (erased.size > 0) batch = batch.filter((p) => !erased.has(p.event.index));

  // Identifiers are normally claimed already; this covers a concurrent merge or erasure in between.
  const resolution = resolve(batch, k, await idPool.take(client, unmappedCount(keys, k)));

  for (const m of resolution.merges) await mergeCustomers(client, ws, m.from, m.into, m.reason, receivedAt);
  await insertIdentities(
    client,
    ws,
    [...resolution.newIdentities.values()].map((v) => ({ ...v.key, customerId: v.customerId })),
    receivedAt,
  );

  const deltas = new Map<string, ProfileDelta>();
  batch.forEach((p, i) => {
    const c = resolution.eventCustomer[i] as string;
    const prev = deltas.get(c);
    deltas.set(c, prev ? foldDeltas(prev, p.delta) : p.delta);
  });
  const created: CustomerPatch[] = [];
  const updated: CustomerPatch[] = [];
  for (const [customerId, d] of deltas) {
    const patch = toPatch(customerId, resolution.userIdOf.get(customerId) ?? null, d);
    (resolution.created.has(customerId) ? created : updated).push(patch);
  }
  const rows: EventRow[] = batch.map((p, i) => ({
    customerId: resolution.eventCustomer[i] as string,
    messageId: p.event.messageId,
    type: p.event.type,
    name: p.event.name,
    occurredAt: p.event.occurredAt,
    receivedAt: p.receivedAt,
    propertiesJson: p.propertiesJson,
    contextJson: p.contextJson,
  }));
  await insertEvents(client, ws, rows, claimed.copy);
  await copyToInbox(
    client,
    ws,
    batch.flatMap((p, i) =>
      p.event.type === "track" && p.event.name !== null
        ? [
            {
              customerId: resolution.eventCustomer[i] as string,
              name: p.event.name,
              messageId: p.event.messageId,
              occurredAt: p.event.occurredAt,
              properties: p.event.properties,
            },
          ]
        : [],
    ),
    receivedAt,
  );
  // Customers last: their row locks, which concurrent batches of the same people wait for, are held only until
  // the commit that follows. A customer found gone here (merged, erased) rolls the events back too.
  await insertCustomers(client, ws, created);
  await updateCustomers(client, ws, updated);
  await markDue(client, ws, changedKeys(batch, resolution.eventCustomer, resolution.merges), receivedAt);

  return { stored: new Set(batch.map((p) => p.event.index)), erased };
}

/** What each customer's new data can change, so that only the conditions depending on it are evaluated. */
function changedKeys(
  batch: Prepared[],
  eventCustomer: readonly string[],
  merges: readonly { into: string }[],
): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  batch.forEach((p, i) => {
    const c = eventCustomer[i] as string;
    let keys = out.get(c);
    if (!keys) {
      keys = new Set(["profile"]);
      out.set(c, keys);
    }
    keys.add(p.event.type === "track" ? `event:${p.event.name}` : `type:${p.event.type}`);
  });
  for (const m of merges) out.set(m.into, new Set([ALL_CHANGED]));
  return out;
}

function toPatch(customerId: string, userId: string | null, d: ProfileDelta): CustomerPatch {
  return {
    customerId,
    userId,
    email: d.email,
    phone: d.phone,
    telegramChatId: d.telegramChatId,
    traits: d.traits,
    traitsAt: d.traits ? d.at : null,
    timezone: d.timezone,
    locale: d.locale,
    consents: d.consents,
    preferredChannel: d.preferredChannel,
    orders: d.orders,
    revenue: d.revenue,
    firstOrderAt: d.firstOrderAt,
    lastOrderAt: d.lastOrderAt,
    firstSeenAt: d.firstAt,
    lastSeenAt: d.at,
  };
}

export function identifierHash(salt: string, kind: string, value: string): string {
  return createHash("sha256").update(`${salt}:${kind}:${value}`).digest("hex");
}

/** The identifiers of an erased person, as kept on the suppression list. */
export function identifierHashes(
  salt: string,
  ids: { userId?: string | null; anonymousIds?: string[]; email?: string | null; phone?: string | null },
): string[] {
  const out: string[] = [];
  if (ids.userId) out.push(identifierHash(salt, "user", ids.userId));
  for (const a of ids.anonymousIds ?? []) out.push(identifierHash(salt, "anon", a));
  if (ids.email) out.push(identifierHash(salt, "email", ids.email));
  if (ids.phone) out.push(identifierHash(salt, "phone", ids.phone));
  return out;
}

/** Events whose identifiers are all new to the store are checked against the suppression list. */
async function findErased(
  client: Queryable,
  workspace: Workspace,
  batch: Prepared[],
  known: Map<string, string>,
): Promise<Set<number>> {
  const candidates: { index: number; hashes: string[] }[] = [];
  for (const p of batch) {
    const e = p.event;
    const userKnown = e.userId && known.has(`user:${e.userId}`);
    const anonKnown = e.anonymousId && known.has(`anon:${e.anonymousId}`);
    if (userKnown || anonKnown) continue;
    const email = p.delta.email ?? normalizeEmail(e.traits?.email);
    const phone = p.delta.phone ?? normalizePhone(e.traits?.phone, workspace.settings.default_country);
    candidates.push({
      index: e.index,
      hashes: identifierHashes(workspace.salt, {
        userId: e.userId ?? e.previousId,
        anonymousIds: e.anonymousId ? [e.anonymousId] : [],
        email,
        phone,
      }),
    });
  }
  if (candidates.length === 0) return new Set();
  const { rows } = await client.query<{ identifier_hash: string }>(
    "SELECT identifier_hash FROM suppressions WHERE workspace_id = $1 AND identifier_hash = ANY($2::text[])",
    [workspace.id, candidates.flatMap((c) => c.hashes)],
  );
  if (rows.length === 0) return new Set();
  const hit = new Set(rows.map((r) => r.identifier_hash));
  return new Set(candidates.filter((c) => c.hashes.some((h) => hit.has(h))).map((c) => c.index));
}
