// What conditions read of a customer: the profile row with the fitted value (facts), the events of the selectors
// they use (each inside the longest window that reads it) and, for the refresher, the open memberships. The
// real-time path reads all three for its customers in one round trip (loadSubjects).
import { VALUE_FIELDS } from "../core/condition/ast.ts";
import type { CustomerFacts, CustomerValueFacts, Subject, SubjectEvent } from "../core/condition/index.ts";
import type { CustomerFactsInput } from "../core/rules/index.ts";
import { byCustomer } from "./by-customer.ts";
import type { Queryable } from "./customers.ts";
import type { OpenMemberships } from "./memberships.ts";
import type { UndeliverableAddress } from "./schema.ts";

/** What a set of conditions reads of events: 'event:<name>' and 'type:<type>' keys, and how far back. */
export interface EventNeeds {
  events: ReadonlySet<string>;
  /** null: some aggregate reading these keys has no window */
  maxWindowMs: number | null;
  /** some aggregate reads these keys since the scenario entry */
  sinceEntry?: boolean;
}

const FACT_COLUMNS = `c.customer_id, c.user_id, c.email, c.phone, c.telegram_chat_id, c.traits, c.timezone,
       c.locale, c.consents, c.preferred_channel, c.orders, c.revenue, c.first_order_at, c.last_order_at,
       c.first_seen_at, c.last_seen_at,
       CASE WHEN v.customer_id IS NOT NULL
            THEN json_build_object(${VALUE_FIELDS.map((f) => `'${f}', v.${f}`).join(", ")}) END AS value`;
const FACTS_FROM = `FROM customers c
  LEFT JOIN customer_value v ON v.workspace_id = c.workspace_id AND v.customer_id = c.customer_id
 WHERE c.workspace_id = $1 AND c.customer_id = ANY($2::bigint[])`;

type FactsRow = Omit<CustomerFacts, "value"> & { revenue: string; value: CustomerValueFacts | null };
const toFacts = (r: FactsRow): CustomerFacts => ({ ...r, revenue: Number(r.revenue) });

/** Customers' rows, with the value of the last fit (null before one) as conditions and templates read it. */
export async function loadFacts(
  client: Queryable,
  workspaceId: number,
  ids: readonly string[],
): Promise<Map<string, CustomerFacts>> {
  const { rows } = await client.query<FactsRow>({
    name: "tact-load-facts",
    text: `SELECT ${FACT_COLUMNS} ${FACTS_FROM}`,
    values: [workspaceId, ids],
  });
  return new Map(rows.map((r) => [r.customer_id, toFacts(r)]));
}

/**
 * What the communication rules read of customers: their addresses, zone, consents and preferred channel, and the
 * addresses a channel found not to work.
 */
export async function loadContactFacts(
  client: Queryable,
  workspaceId: number,
  ids: readonly string[],
): Promise<Map<string, ContactFacts>> {
  const { rows } = await client.query<ContactFacts>({
    name: "tact-load-contact-facts",
    text: `SELECT customer_id, email, phone, telegram_chat_id, timezone, consents, preferred_channel, undeliverable
             FROM customers
            WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[])`,
    values: [workspaceId, ids],
  });
  return new Map(rows.map((r) => [r.customer_id, r]));
}

export interface ContactFacts extends CustomerFactsInput {
  undeliverable: Record<string, UndeliverableAddress> | null;
}

// Two parts, each read through the index that finds only its rows: events of the track names read (by customer
// and name, every month when a condition has no window) and events of the types read (by customer, inside the
// types' window). A moment of -infinity stands for no window, so months are pruned when the plan is reused.
// `who` is the customer column the parts are read for.
const eventParts = (who: string, columns: string) => `SELECT ${columns} FROM events e
  WHERE e.workspace_id = $1 AND e.type = 'track' AND e.customer_id = ${who} AND e.name = ANY($5::text[])
    AND e.occurred_at > $6::timestamptz AND NOT ('track' = ANY($4::text[]))
UNION ALL
SELECT ${columns} FROM events e
  WHERE e.workspace_id = $1 AND e.customer_id = ${who} AND e.occurred_at > $3::timestamptz
    AND e.type = ANY($4::text[])`;
const EVENT_COLUMNS = "e.customer_id, e.type, e.name, e.occurred_at, e.message_id, e.properties";

type Window = number | null;
const wider = (a: Window, b: Window): Window => (a === null || b === null ? null : Math.max(a, b));

/**
 * The parameters $3–$6 of the event parts: types, names and their windows. Null when no event is read. A
 * `since_entry` read goes back to `entries`, the earliest entry of the customers read (all time when unknown).
 */
function eventParams(needs: readonly EventNeeds[], now: Date, entries?: Date): unknown[] | null {
  const names = new Set<string>();
  const types = new Set<string>();
  let namesWindow: Window = 0;
  let typesWindow: Window = 0;
  // an event at the very moment of the entry counts: a millisecond more, as the windows exclude their start
  const sinceEntry: Window = entries ? now.getTime() - entries.getTime() + 1 : null;
  for (const d of needs) {
    const window = d.sinceEntry ? wider(d.maxWindowMs, sinceEntry) : d.maxWindowMs;
    for (const e of d.events) {
      if (e.startsWith("event:")) {
        names.add(e.slice(6));
        namesWindow = wider(namesWindow, window);
      } else if (e.startsWith("type:")) {
        types.add(e.slice(5));
        typesWindow = wider(typesWindow, window);
      }
    }
  }
  if (names.size === 0 && types.size === 0) return null;
  // when `track` is one of the types, the types part reads every track event, named ones too, and the names part
  // reads nothing
  if (types.has("track")) typesWindow = wider(typesWindow, namesWindow);
  const since = (w: Window) => (w === null ? "-infinity" : new Date(now.getTime() - w));
  return [since(typesWindow), [...types], [...names], since(namesWindow)];
}

/**
 * The events the conditions can read: their selectors, each inside the longest window that reads it; `since_entry`
 * reads from `entries`, the earliest scenario entry of these customers the conditions are evaluated for.
 */
export async function loadEvents(
  client: Queryable,
  workspaceId: number,
  ids: readonly string[],
  needs: readonly EventNeeds[],
  now: Date,
  entries?: Date,
): Promise<Map<string, SubjectEvent[]>> {
  const params = eventParams(needs, now, entries);
  if (!params) return new Map();
  const { rows } = await client.query<SubjectEvent & { customer_id: string }>({
    name: "tact-load-events",
    text: eventParts("ANY($2::bigint[])", EVENT_COLUMNS),
    values: [workspaceId, ids, ...params],
  });
  return byCustomer<SubjectEvent>(rows);
}

// One row per customer: the facts, the open memberships as 'kind:name', and the events as one JSON array of
// [type, name, occurred_at, message_id, properties] (one JSON value parses natively; an array of JSON values
// would be split character by character by the driver).
const SUBJECTS_SQL = `SELECT ${FACT_COLUMNS},
       ARRAY(SELECT m.kind || ':' || m.name FROM memberships m
              WHERE m.workspace_id = $1 AND m.customer_id = c.customer_id AND m.left_at IS NULL) AS open,
       CASE WHEN $7::boolean THEN (
         SELECT json_agg(json_build_array(e.type, e.name, e.occurred_at, e.message_id, e.properties))
           FROM (${eventParts("c.customer_id", "e.type, e.name, e.occurred_at, e.message_id, e.properties")}) e)
       END AS events
  ${FACTS_FROM}`;

type EventTuple = [string, string | null, string, string, Record<string, unknown>];

/** The refresher's read: each customer's facts, events and open memberships, in one query. */
export async function loadSubjects(
  client: Queryable,
  workspaceId: number,
  ids: readonly string[],
  needs: readonly EventNeeds[],
  now: Date,
): Promise<Map<string, { subject: Subject; open: OpenMemberships }>> {
  const params = eventParams(needs, now);
  const { rows } = await client.query<FactsRow & { open: string[]; events: EventTuple[] | null }>({
    name: "tact-load-subjects",
    text: SUBJECTS_SQL,
    values: [workspaceId, ids, ...(params ?? ["-infinity", [], [], "-infinity"]), params !== null],
  });
  const out = new Map<string, { subject: Subject; open: OpenMemberships }>();
  for (const { open: keys, events, ...row } of rows) {
    const open: OpenMemberships = { segments: new Set(), stage: null };
    for (const key of keys) {
      const at = key.indexOf(":");
      if (key.slice(0, at) === "stage") open.stage = key.slice(at + 1);
      else open.segments.add(key.slice(at + 1));
    }
    const list: SubjectEvent[] = (events ?? []).map(([type, name, occurredAt, messageId, properties]) => ({
      type,
      name,
      occurred_at: new Date(occurredAt),
      message_id: messageId,
      properties,
    }));
    out.set(row.customer_id, { subject: { customer: toFacts(row), events: list }, open });
  }
  return out;
}

/** A track event a scenario's goal counts. */
export interface GoalEvent {
  name: string;
  occurred_at: Date;
  message_id: string;
  properties: Record<string, unknown>;
}

/** The customers' track events of these names between `from` and `to` (goals reached during journeys). */
export async function loadGoalEvents(
  client: Queryable,
  workspaceId: number,
  ids: readonly string[],
  names: readonly string[],
  from: Date,
  to: Date,
): Promise<Map<string, GoalEvent[]>> {
  const { rows } = await client.query<GoalEvent & { customer_id: string }>({
    name: "tact-goal-events",
    text: `SELECT customer_id, name, occurred_at, message_id, properties FROM events
      WHERE workspace_id = $1 AND type = 'track' AND customer_id = ANY($2::bigint[]) AND name = ANY($3::text[])
        AND occurred_at >= $4 AND occurred_at <= $5`,
    values: [workspaceId, ids, names, from, to],
  });
  return byCustomer<GoalEvent>(rows);
}
