// The example strategies and their synthetic customer bases: the documents are complete, the generators are
// deterministic, and a loaded base is what ingestion would have made of the same events.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { generate as flowerShop } from "../examples/flower-shop/generate.ts";
import { generate as onlineSchool } from "../examples/online-school/generate.ts";
import type { Batch, GenerateOptions } from "../examples/synthetic-base.ts";
import { gatherStrategyFacts } from "../src/engine/strategy-facts.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { emptyCustomer, loadSynthetic, type SyntheticEvent } from "../src/store/bulk-load.ts";
import { formatDiagnostic } from "../src/strategy/diagnostics.ts";
import { lintStrategy } from "../src/strategy/lint.ts";
import { validateStrategy } from "../src/strategy/validate.ts";
import { type TestDb, testDb, testWorkspace } from "./helpers.ts";

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), "../examples");
const NOW = new Date("2026-03-20T12:00:00.000Z");
const CUSTOMERS = 1000;
const DAYS = 365;

type Generate = (opts: GenerateOptions) => Generator<Batch>;
const BASES: [string, Generate][] = [
  ["online-school", onlineSchool],
  ["flower-shop", flowerShop],
];

/** A fingerprint of a whole base: customers and events in order, whatever the batches they came in. */
function digest(gen: Generator<Batch>): { hash: string; customers: number; events: number } {
  const customerHash = createHash("sha256");
  const eventHash = createHash("sha256");
  let customers = 0;
  let events = 0;
  for (const b of gen) {
    customers += b.customers.length;
    events += b.events.length;
    for (const c of b.customers) customerHash.update(JSON.stringify(c));
    for (const e of b.events) eventHash.update(JSON.stringify(e));
  }
  return { hash: customerHash.digest("hex") + eventHash.digest("hex"), customers, events };
}

describe("generators", () => {
  for (const [name, generate] of BASES) {
    test(`${name}: the same seed gives the same base, another seed another one`, () => {
      const a = digest(generate({ customers: CUSTOMERS, seed: 7, now: NOW }));
      const b = digest(generate({ customers: CUSTOMERS, seed: 7, now: NOW, batchSize: 37 }));
      const c = digest(generate({ customers: CUSTOMERS, seed: 8, now: NOW }));
      assert.equal(a.customers, CUSTOMERS);
      assert.ok(a.events > CUSTOMERS * 10, `about 20 events per customer, got ${a.events / CUSTOMERS}`);
      assert.equal(b.hash, a.hash, "batch size must not change the base");
      assert.notEqual(c.hash, a.hash);
    });
  }
});

// The profile columns recomputed from the events table, the way ingestion derives them, compared column by
// column; each count is the number of customers whose stored value differs.
const MISMATCHES = `
WITH e AS (SELECT * FROM events WHERE workspace_id = $1),
agg AS (
  SELECT customer_id,
         count(*) FILTER (WHERE type = 'track' AND name = 'order_completed')::int AS orders,
         COALESCE(sum((properties->>'revenue')::numeric) FILTER (WHERE type = 'track' AND name = 'order_completed'), 0)
           - COALESCE(sum(abs((properties->>'revenue')::numeric)) FILTER (WHERE type = 'track' AND name = 'order_refunded'), 0)
           AS revenue,
         min(occurred_at) FILTER (WHERE type = 'track' AND name = 'order_completed') AS first_order_at,
         max(occurred_at) FILTER (WHERE type = 'track' AND name = 'order_completed') AS last_order_at,
         min(occurred_at) AS first_seen_at,
         max(occurred_at) AS last_seen_at,
         max(occurred_at) FILTER (WHERE type = 'identify') AS traits_updated_at
    FROM e GROUP BY customer_id),
place AS (
  SELECT DISTINCT ON (customer_id) customer_id, context->>'timezone' AS timezone, context->>'locale' AS locale
    FROM e WHERE context IS NOT NULL ORDER BY customer_id, occurred_at DESC),
contact AS (
  SELECT customer_id, jsonb_object_agg(k, v) AS c FROM (
    SELECT DISTINCT ON (customer_id, k) customer_id, k, properties->>k AS v
      FROM e, unnest(ARRAY['email', 'phone', 'telegram_chat_id', 'preferred_channel']) AS k
     WHERE type = 'identify' AND properties ? k
     ORDER BY customer_id, k, occurred_at DESC) x GROUP BY customer_id),
traits AS (
  SELECT customer_id, jsonb_object_agg(t.key, t.value ORDER BY occurred_at) AS traits
    FROM e, jsonb_each(e.properties) t WHERE type = 'identify' GROUP BY customer_id),
consent_changes AS (
  SELECT customer_id, c.key AS channel, c.value #>> '{}' AS state, occurred_at
    FROM e, jsonb_each(e.properties->'consent') c
   WHERE type = 'identify' AND jsonb_typeof(properties->'consent') = 'object'
  UNION ALL
  SELECT customer_id, properties->>'channel', 'unsubscribed', occurred_at
    FROM e WHERE type = 'track' AND name = 'unsubscribed'),
consents AS (
  SELECT customer_id, jsonb_object_agg(channel, jsonb_build_object('state', state, 'at',
           to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))) AS consents
    FROM (SELECT DISTINCT ON (customer_id, channel) * FROM consent_changes
           ORDER BY customer_id, channel, occurred_at DESC) x GROUP BY customer_id)
SELECT count(*)::int AS customers,
       count(*) FILTER (WHERE a.customer_id IS NULL)::int AS without_events,
       count(*) FILTER (WHERE c.orders IS DISTINCT FROM a.orders)::int AS orders,
       count(*) FILTER (WHERE c.revenue IS DISTINCT FROM a.revenue)::int AS revenue,
       count(*) FILTER (WHERE c.first_order_at IS DISTINCT FROM a.first_order_at)::int AS first_order_at,
       count(*) FILTER (WHERE c.last_order_at IS DISTINCT FROM a.last_order_at)::int AS last_order_at,
       count(*) FILTER (WHERE c.first_seen_at IS DISTINCT FROM a.first_seen_at)::int AS first_seen_at,
       count(*) FILTER (WHERE c.last_seen_at IS DISTINCT FROM a.last_seen_at)::int AS last_seen_at,
       count(*) FILTER (WHERE c.traits_updated_at IS DISTINCT FROM a.traits_updated_at)::int AS traits_updated_at,
       count(*) FILTER (WHERE c.timezone IS DISTINCT FROM p.timezone)::int AS timezone,
       count(*) FILTER (WHERE c.locale IS DISTINCT FROM p.locale)::int AS locale,
       count(*) FILTER (WHERE c.email IS DISTINCT FROM k.c->>'email')::int AS email,
       count(*) FILTER (WHERE c.phone IS DISTINCT FROM k.c->>'phone')::int AS phone,
       count(*) FILTER (WHERE c.telegram_chat_id IS DISTINCT FROM k.c->>'telegram_chat_id')::int AS telegram_chat_id,
       count(*) FILTER (WHERE c.preferred_channel IS DISTINCT FROM k.c->>'preferred_channel')::int AS preferred_channel,
       count(*) FILTER (WHERE c.traits IS DISTINCT FROM COALESCE(t.traits, '{}'))::int AS traits,
       count(*) FILTER (WHERE c.consents IS DISTINCT FROM COALESCE(s.consents, '{}'))::int AS consents
  FROM customers c
  LEFT JOIN agg a USING (customer_id)
  LEFT JOIN place p USING (customer_id)
  LEFT JOIN contact k USING (customer_id)
  LEFT JOIN traits t USING (customer_id)
  LEFT JOIN consents s USING (customer_id)
 WHERE c.workspace_id = $1`;

describe("synthetic bases loaded with COPY", () => {
  let t: TestDb;
  before(async () => {
    t = await testDb();
  });
  after(async () => {
    await t?.close();
  });

  for (const [name, generate] of BASES) {
    test(`${name}: counts, identities and profiles consistent with the events`, async () => {
      const { db } = t;
      const { workspace } = await testWorkspace(db);
      const ws = workspace.id;
      const expected = digest(generate({ customers: CUSTOMERS, seed: 42, now: NOW, days: DAYS }));
      const progress: number[] = [];
      const loaded = await loadSynthetic(
        db,
        ws,
        generate({ customers: CUSTOMERS, seed: 42, now: NOW, days: DAYS }),
        (p) => progress.push(p.events),
      );
      assert.deepEqual(loaded, { customers: expected.customers, events: expected.events });
      assert.equal(progress.at(-1), expected.events);

      const counts = await one(
        t,
        `SELECT (SELECT count(*) FROM customers WHERE workspace_id = $1)::int AS customers,
                (SELECT count(*) FROM events WHERE workspace_id = $1)::int AS events,
                (SELECT count(DISTINCT message_id) FROM events WHERE workspace_id = $1)::int AS message_ids,
                (SELECT count(*) FROM identities WHERE workspace_id = $1 AND kind = 'user')::int AS user_ids,
                (SELECT count(*) FROM customers WHERE workspace_id = $1 AND user_id IS NOT NULL)::int AS known,
                (SELECT count(*) FROM customers c WHERE workspace_id = $1 AND NOT EXISTS (
                   SELECT 1 FROM identities i WHERE i.workspace_id = $1 AND i.customer_id = c.customer_id))::int
                  AS without_identity,
                (SELECT count(*) FROM events WHERE workspace_id = $1 AND (occurred_at > $2 OR
                   occurred_at < $2::timestamptz - make_interval(days => $3) OR received_at < occurred_at OR
                   received_at > $2))::int AS out_of_window`,
        [ws, NOW, DAYS],
      );
      assert.equal(counts.customers, CUSTOMERS);
      assert.equal(counts.events, expected.events);
      assert.equal(counts.message_ids, expected.events, "message ids are unique");
      assert.equal(counts.user_ids, counts.known, "every known customer has its user id as an identity");
      assert.equal(counts.without_identity, 0);
      assert.equal(counts.out_of_window, 0, "events happen within the window, received after they occur");

      const diff = await one(t, MISMATCHES, [ws]);
      assert.deepEqual(
        diff,
        {
          ...Object.fromEntries(Object.keys(diff).map((k) => [k, 0])),
          customers: CUSTOMERS,
        },
        "profile columns that differ from what the events imply",
      );

      // The funnel is all there: anonymous visitors, leads, first and repeat buyers, lapsed ones, refunds,
      // unsubscribes.
      const funnel = await one(
        t,
        `SELECT count(*) FILTER (WHERE user_id IS NULL AND email IS NULL)::int AS anonymous,
                count(*) FILTER (WHERE orders = 0 AND consents::text LIKE '%opted_in%')::int AS leads,
                count(*) FILTER (WHERE orders = 1)::int AS first_buyers,
                count(*) FILTER (WHERE orders >= 2)::int AS repeat_buyers,
                count(*) FILTER (WHERE orders >= 1 AND last_order_at < $2::timestamptz - interval '150 days')::int
                  AS lapsing,
                count(*) FILTER (WHERE consents::text LIKE '%unsubscribed%')::int AS unsubscribed,
                count(*) FILTER (WHERE email IS NOT NULL AND NOT consents ? 'email')::int AS unconfirmed
           FROM customers WHERE workspace_id = $1`,
        [ws, NOW],
      );
      for (const [k, v] of Object.entries(funnel))
        assert.ok(Number(v) > 0, `no ${k} in ${JSON.stringify(funnel)}`);
      // The example strategy, linted against its own base: every audience reached, no pressure over the caps.
      const file = join(EXAMPLES, name, "strategy.yaml");
      const text = readFileSync(file, "utf8");
      const result = await validateStrategy(text, file, {
        lint: async (strategy, source) =>
          lintStrategy(strategy, await gatherStrategyFacts(db, ws, strategy, NOW), { source, now: NOW }),
      });
      assert.deepEqual(
        [...result.errors, ...result.warnings].map((d) => formatDiagnostic(d, text)),
        [],
      );
      const refunds = await one(
        t,
        `SELECT count(*)::int AS n FROM events WHERE workspace_id = $1 AND name = 'order_refunded'`,
        [ws],
      );
      assert.ok(Number(refunds.n) > 0, "some orders are refunded");
    });
  }

  for (const [name, generate] of BASES) {
    test(`${name}: the tracking pipeline makes the same profiles of the same events`, async () => {
      const { db } = t;
      const { workspace } = await testWorkspace(db);
      const sample = generate({ customers: 150, seed: 42, now: NOW });
      const customers = [];
      const messages: Record<string, unknown>[] = [];
      for (const b of sample) {
        customers.push(...b.customers);
        const byKey = new Map(b.customers.map((c) => [c.key, c]));
        for (const e of b.events) {
          const c = byKey.get(e.customerKey);
          assert.ok(c);
          messages.push(asMessage(e, c.userId, c.anonymousIds[0] ?? null));
        }
      }
      messages.sort((a, b) => String(a.timestamp).localeCompare(String(b.timestamp)));
      for (let i = 0; i < messages.length; i += 500) {
        const r = await ingestMessages(db, workspace, messages.slice(i, i + 500), { receivedAt: NOW });
        assert.deepEqual(r.rejected, []);
      }
      const { rows } = await db.pool.query(
        `SELECT i.value AS anon, c.* FROM identities i
           JOIN customers c ON c.workspace_id = i.workspace_id AND c.customer_id = i.customer_id
          WHERE i.workspace_id = $1 AND i.kind = 'anon'`,
        [workspace.id],
      );
      assert.equal(rows.length, customers.length, "one customer per generated customer");
      const ingested = new Map(rows.map((r) => [r.anon as string, r]));
      for (const c of customers) {
        const r = ingested.get(c.anonymousIds[0] ?? "");
        assert.ok(r, `customer ${c.key} was ingested`);
        const iso = (d: Date | null) => d?.toISOString() ?? null;
        // traits_updated_at is left out: ingestion stamps it with the newest event of the customer's batch
        // (which depends on how events were batched), the loaded base with the newest identify.
        assert.deepEqual(
          {
            userId: r.user_id,
            email: r.email,
            phone: r.phone,
            telegramChatId: r.telegram_chat_id,
            traits: r.traits,
            timezone: r.timezone,
            locale: r.locale,
            consents: r.consents,
            preferredChannel: r.preferred_channel,
            orders: r.orders,
            revenue: Number(r.revenue),
            firstOrderAt: iso(r.first_order_at),
            lastOrderAt: iso(r.last_order_at),
            firstSeenAt: iso(r.first_seen_at),
            lastSeenAt: iso(r.last_seen_at),
          },
          {
            userId: c.userId,
            email: c.email,
            phone: c.phone,
            telegramChatId: c.telegramChatId,
            traits: c.traits,
            timezone: c.timezone,
            locale: c.locale,
            consents: c.consents,
            preferredChannel: c.preferredChannel,
            orders: c.orders,
            revenue: c.revenue,
            firstOrderAt: iso(c.firstOrderAt),
            lastOrderAt: iso(c.lastOrderAt),
            firstSeenAt: iso(c.firstSeenAt),
            lastSeenAt: iso(c.lastSeenAt),
          },
          `customer ${c.key}`,
        );
      }
    });
  }

  test("flower-shop: orders peak in the week before each holiday", async () => {
    const { db } = t;
    const { workspace } = await testWorkspace(db);
    await loadSynthetic(db, workspace.id, flowerShop({ customers: CUSTOMERS, seed: 3, now: NOW }));
    const rows = await t.db.pool.query<{ occasion: string; share: string }>(
      `SELECT d.occasion, (count(*) FILTER (WHERE e.occurred_at > d.at - interval '7 days' AND e.occurred_at <= d.at)
                          ::numeric / count(*))::text AS share
         FROM events e,
              (VALUES ('valentines_day', '2026-02-15'::timestamptz), ('womens_day', '2026-03-09'),
                      ('knowledge_day', '2025-09-02'), ('mothers_day', '2025-11-30')) d(occasion, at)
        WHERE e.workspace_id = $1 AND e.name = 'order_completed'
        GROUP BY d.occasion`,
      [workspace.id],
    );
    assert.equal(rows.rows.length, 4);
    for (const r of rows.rows) {
      // a week is 2% of a year; a peak holds several times that
      assert.ok(Number(r.share) > (3 * 7) / 365, `${r.occasion}: ${r.share} of the orders in its week`);
    }
  });

  test("copyIn is one transaction over all its chunks, on both backends", async () => {
    const { db } = t;
    await db.pool.query("CREATE TABLE copy_probe (n integer NOT NULL, t text)");
    const chunks = (rows: string[]) => rows.map((r) => Buffer.from(r));
    await assert.rejects(
      db.copyIn("COPY copy_probe (n, t) FROM STDIN", chunks(["1\tone\n2\ttwo\n", "three\tthree\n"])),
    );
    const empty = await db.pool.query("SELECT count(*)::int AS n FROM copy_probe");
    assert.equal(empty.rows[0].n, 0, "a bad row in a later chunk stores nothing");
    await db.copyIn(
      "COPY copy_probe (n, t) FROM STDIN",
      (async function* () {
        // a NULL, then an escaped backslash, N and an escaped tab
        yield* chunks(["1\tone\n", "2\t\\N\n", "3\t\\\\N\\t\n"]);
      })(),
    );
    const { rows } = await db.pool.query("SELECT n, t FROM copy_probe ORDER BY n");
    assert.deepEqual(rows, [
      { n: 1, t: "one" },
      { n: 2, t: null },
      { n: 3, t: "\\N\t" },
    ]);
  });

  test("COPY escaping keeps awkward text exactly", async () => {
    const { db } = t;
    const { workspace } = await testWorkspace(db);
    const awkward = [
      "tab\there",
      "line\nbreak",
      "carriage\rreturn",
      "back\\slash",
      "\\N",
      "\\.",
      "",
      "quotes ' \" and 🌷 ünïcödé",
      "\\\t\n\r\\\\",
    ];
    const at = new Date("2026-01-10T10:00:00.000Z");
    const batch: Batch = {
      customers: awkward.map((s, i) => ({
        ...emptyCustomer(i),
        userId: `user ${s} ${i}`,
        anonymousIds: [`anon ${s} ${i}`],
        email: s,
        telegramChatId: s,
        traits: { note: s, [`key ${s}`]: [s, { s }] },
        traitsUpdatedAt: at,
        locale: s,
        firstSeenAt: at,
        lastSeenAt: at,
      })),
      events: awkward.map((s, i) => ({
        customerKey: i,
        messageId: `m ${s} ${i}`,
        type: "track",
        name: s,
        occurredAt: at,
        receivedAt: at,
        properties: { s, nested: { s } },
        context: { s },
      })),
    };
    await loadSynthetic(db, workspace.id, [batch]);
    const { rows } = await db.pool.query<{
      user_id: string;
      email: string;
      telegram_chat_id: string;
      locale: string;
      traits: unknown;
      anon: string;
      message_id: string;
      name: string;
      properties: unknown;
      context: unknown;
    }>(
      `SELECT c.user_id, c.email, c.telegram_chat_id, c.locale, c.traits, i.value AS anon, e.message_id, e.name,
              e.properties, e.context
         FROM customers c
         JOIN identities i ON i.workspace_id = c.workspace_id AND i.customer_id = c.customer_id AND i.kind = 'anon'
         JOIN events e ON e.workspace_id = c.workspace_id AND e.customer_id = c.customer_id
        WHERE c.workspace_id = $1 ORDER BY c.customer_id`,
      [workspace.id],
    );
    assert.equal(rows.length, awkward.length);
    awkward.forEach((s, i) => {
      const r = rows[i];
      assert.ok(r);
      assert.deepEqual(
        [r.user_id, r.email, r.telegram_chat_id, r.locale, r.anon, r.message_id, r.name],
        [`user ${s} ${i}`, s, s, s, `anon ${s} ${i}`, `m ${s} ${i}`, s],
      );
      assert.deepEqual(r.traits, { note: s, [`key ${s}`]: [s, { s }] });
      assert.deepEqual(r.properties, { s, nested: { s } });
      assert.deepEqual(r.context, { s });
    });
  });
});

describe("strategy documents", () => {
  for (const name of ["online-school", "flower-shop"]) {
    test(`${name}: validates; every scenario has a goal, every template a file and every step a template`, async () => {
      const path = join(EXAMPLES, name, "strategy.yaml");
      assert.ok(existsSync(path));
      const text = readFileSync(path, "utf8");
      const doc = parse(text) as Strategy;
      const result = await validateStrategy(text, path);
      assert.deepEqual(
        [...result.errors, ...result.warnings].map((d) => formatDiagnostic(d, text)),
        [],
      );
      const channels = Object.keys(doc.channels);
      assert.ok(channels.length > 0);
      for (const stage of Object.keys(doc.stages)) {
        const served = Object.values(doc.scenarios).some((s) =>
          new RegExp(`'${stage}'|stage: ${stage}\\b`).test(
            `${s.audience} stage: ${s.trigger.stage_entered ?? ""}`,
          ),
        );
        assert.ok(served, `stage ${stage} is served by no scenario`);
      }
      for (const [id, s] of Object.entries(doc.scenarios)) {
        assert.ok(s.goal && s.goal in doc.goals, `scenario ${id} names a known goal`);
        for (const step of s.steps) {
          if (!step.send) continue;
          const template = doc.templates[step.send];
          assert.ok(template, `${id}: template ${step.send}`);
          const via = step.via === "best" ? Object.keys(template) : step.via;
          assert.ok(Array.isArray(via) && via.length > 0, `${id}: ${step.send} names its channels`);
          for (const ch of via) {
            assert.ok(channels.includes(ch), `${id}: channel ${ch} is configured`);
            assert.ok(template[ch], `${id}: template ${step.send} has a ${ch} version`);
          }
        }
        for (const variant of Object.values(s.experiment?.variants ?? {})) {
          assert.ok(doc.templates[variant], `${id}: variant template ${variant}`);
        }
      }
      for (const [id, template] of Object.entries(doc.templates)) {
        for (const [ch, body] of Object.entries(template)) {
          assert.ok(channels.includes(ch), `template ${id} is for a configured channel (${ch})`);
          for (const v of Object.values(body)) {
            if (typeof v === "string" && v.startsWith("templates/")) {
              assert.ok(existsSync(join(EXAMPLES, name, v)), `${id}.${ch}: ${v} exists`);
            }
          }
        }
      }
    });
  }
});

/** The Segment message a tracking client would have sent for a generated event. */
function asMessage(
  e: SyntheticEvent,
  userId: string | null,
  anonymousId: string | null,
): Record<string, unknown> {
  const m: Record<string, unknown> = {
    type: e.type,
    messageId: e.messageId,
    timestamp: e.occurredAt.toISOString(),
    context: e.context,
  };
  if (userId) m.userId = userId;
  if (anonymousId) m.anonymousId = anonymousId;
  if (e.type === "track") m.event = e.name;
  if (e.type === "page" || e.type === "screen") m.name = e.name;
  if (e.type === "identify") m.traits = e.properties;
  else m.properties = e.properties;
  return m;
}

interface Strategy {
  goals: Record<string, unknown>;
  channels: Record<string, unknown>;
  stages: Record<string, string>;
  scenarios: Record<
    string,
    {
      goal?: string;
      audience: string;
      trigger: { stage_entered?: string };
      steps: { send?: string; via?: string[] | "best" }[];
      experiment?: { variants: Record<string, string> };
    }
  >;
  templates: Record<string, Record<string, Record<string, unknown>>>;
}

async function one(t: TestDb, sql: string, params: unknown[]): Promise<Record<string, unknown>> {
  const { rows } = await t.db.pool.query(sql, params);
  const row = rows[0] as Record<string, unknown> | undefined;
  assert.ok(row);
  return row;
}
