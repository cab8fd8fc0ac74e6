// The engine's probe of due work: each stage is reported due exactly when its claim would take something, so a
// pass skips only stages with nothing to do, and a round with nothing due opens no transaction at all.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ChannelRegistry, sinkFactory } from "../src/channels/registry.ts";
import { VirtualClock } from "../src/core/clock.ts";
import { dueWork } from "../src/engine/due-work.ts";
import { Engine } from "../src/engine/engine.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";

const STRATEGY = `version: 1
name: Probe
timezone: UTC
currency: EUR
goals:
  paid: { event: order_completed, window: 1d, target: 10% }
channels:
  inbox: { provider: sink, contact: email, cost: 0 }
rules:
  consent: opt_out
  control_group: 0%
scenarios:
  welcome:
    goal: paid
    trigger: { event: signed_up }
    steps:
      - send: note
        via: [inbox]
      - wait: 1d
      - send: note
        via: [inbox]
templates:
  note: { inbox: { text: "Hello" } }
`;

const LEASE_MS = 5 * 60_000;
const clock = new VirtualClock("2026-03-02T10:00:00Z");
let t: TestDb;
let engine: Engine;
let attempts = 0;

before(async () => {
  t = await testDb();
  // the sink refuses each first try for a minute: the message goes back to the queue, due again later
  const registry = ChannelRegistry.every(
    { env: {} },
    sinkFactory({
      respond: (m) => {
        attempts++;
        return m.attempt === 1
          ? { status: "retry", afterMs: 60_000, reason: "busy" }
          : { status: "sent", providerId: m.messageId };
      },
    }),
  );
  engine = new Engine(t.db, clock, {
    publicUrl: "http://tact.invalid",
    registry: () => registry,
    leaseMs: LEASE_MS,
  });
});

after(async () => {
  await engine.stop();
  await t.close();
});

const probe = (at: Date) => dueWork(t.db.pool, at, new Date(at.getTime() - LEASE_MS));
const dueStages = async (at: Date) =>
  Object.entries(await probe(at))
    .filter(([, due]) => due)
    .map(([stage]) => stage)
    .sort();
const later = (ms: number) => new Date(clock.now().getTime() + ms);

test("each stage is due exactly when its claim would take work, and an idle round opens no transaction", async () => {
  assert.deepEqual(await dueStages(clock.now()), [], "an empty database has nothing due");

  const ws = await createWorkspace(t.db, "probe");
  const applied = await applyStrategy(t.db, ws.id, STRATEGY, "probe.yaml", "test", clock.now());
  assert.ok(applied.ok, JSON.stringify(!applied.ok && applied.diagnostics));
  const at = clock.now().toISOString();
  const ingested = await ingestMessages(
    t.db,
    ws,
    [
      { type: "identify", userId: "anna", traits: { email: "anna@example.com" }, timestamp: at },
      { type: "track", userId: "anna", event: "signed_up", timestamp: at },
    ],
    { receivedAt: clock.now() },
  );
  assert.deepEqual(ingested.rejected, []);
  assert.deepEqual(
    await dueStages(clock.now()),
    ["inbox", "memberships"],
    "the event waits in the inbox, the customer's stage and segments for a check",
  );

  // the journey starts; the first try is refused and queued a minute on; the entry waits a day
  await engine.runOnce(clock.now());
  assert.equal(attempts, 1);
  assert.deepEqual(await dueStages(clock.now()), [], "nothing is due until the retry");
  assert.deepEqual(await dueStages(later(60_000)), ["send"], "the retry is due in a minute");
  assert.deepEqual(await dueStages(later(86_400_000)), ["entries", "send"], "the next step is due in a day");

  // a message left `sending` by a worker that stopped is due again once its lease has run out
  await t.db.pool.query("UPDATE messages SET fate = 'sending', updated_at = $1, due_at = $2", [
    clock.now(),
    later(3_600_000),
  ]);
  assert.deepEqual(await dueStages(later(LEASE_MS - 1000)), []);
  assert.deepEqual(await dueStages(later(LEASE_MS + 1000)), ["send"]);

  // with nothing due, a round is the probe alone: no stage begins a transaction
  type Client = { query: (...args: unknown[]) => unknown };
  type Connect = (...args: unknown[]) => unknown;
  const pool = t.db.pool as unknown as { connect: Connect };
  const connect = pool.connect;
  const wrapped: [Client, Client["query"]][] = [];
  let transactions = 0;
  const watch = (client: Client | undefined) => {
    if (!client) return;
    const query = client.query;
    wrapped.push([client, query]);
    client.query = (...args: unknown[]) => {
      if (typeof args[0] === "string" && /^\s*BEGIN/i.test(args[0])) transactions++;
      return query.apply(client, args);
    };
  };
  // both forms of connect: with a callback (pg's pool.query uses it) and as a promise
  pool.connect = (...args: unknown[]) => {
    const done = args[0];
    if (typeof done === "function")
      return connect.call(pool, (err: unknown, client: Client | undefined, release: unknown) => {
        watch(client);
        done(err, client, release);
      });
    return (connect.call(pool) as Promise<Client>).then((client) => {
      watch(client);
      return client;
    });
  };
  try {
    const idle = await engine.runOnce(later(60_000));
    assert.deepEqual(idle, { memberships: 0, events: 0, entries: 0, decided: 0, sent: 0, webhooks: 0 });
    assert.equal(transactions, 0);
  } finally {
    pool.connect = connect;
    for (const [client, query] of wrapped) client.query = query;
  }

  // the rest of the journey: the message sent once its lease ran out, the second step a day later
  await engine.runOnce(later(LEASE_MS + 1000));
  await engine.runOnce(later(86_400_000 + LEASE_MS + 60_000));
  await engine.runOnce(later(86_400_000 + LEASE_MS + 180_000));
  const { rows } = await t.db.pool.query<{ fate: string; n: string }>(
    "SELECT fate, count(*) AS n FROM messages GROUP BY fate ORDER BY fate",
  );
  assert.deepEqual(
    rows.map((r) => [r.fate, Number(r.n)]),
    [["sent", 2]],
  );
  assert.deepEqual(await dueStages(later(30 * 86_400_000)), []);
});
