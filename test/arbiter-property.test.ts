// The laws of the arbiter (SPEC §5), checked over random customers, strategies and streams of message requests
// run through a small simulator for two virtual weeks: every decision's send goes back into the history, every
// deferral comes back when it says. Whatever happens: no frequency rule is exceeded in any rolling window, the
// minimum gap holds, no marketing message goes in quiet hours or without consent, nothing goes to an erased or
// control customer, no channel exceeds its capacity, no request is sent twice, and transactional messages go
// regardless of caps. Run once with one worker and once with several workers, each lagging behind the clock by
// its own amount, interleaving different customers (one customer's decisions are serialised, as in the engine).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { BUCKETS, bucketOf, inGlobalControl } from "../src/core/experiment/index.ts";
import {
  type ArbiterCustomer,
  type ChannelInput,
  type ChannelUsage,
  type Decision,
  decideRound,
  limitWindow,
  type MessageRequest,
  type SentMessage,
  type StrategyInput,
} from "../src/core/rules/index.ts";
import type { Strategy, Via } from "../src/strategy/types.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.parse("2026-03-02T00:00:00Z"); // two weeks that hold the US change to summer time (8 March)
const ZONES = ["Europe/Berlin", "America/New_York", "Europe/Moscow", "Asia/Kathmandu", "UTC", "Not/A_Zone"];
const POOL: ChannelInput[] = [
  { name: "email", kind: "email", contact: "email", cost: 0.05, capacity: null, rate: null },
  { name: "sms", kind: "sms", contact: "phone", cost: 3.5, capacity: null, rate: null },
  { name: "telegram", kind: "telegram", contact: "telegram", cost: 0, capacity: null, rate: null },
  {
    name: "call",
    kind: "call",
    contact: "phone",
    cost: 60,
    capacity: { count: 3, perMs: DAY },
    rate: { count: 1, perMs: MIN },
  },
];
const NAMES = POOL.map((c) => c.name);

// The compiled strategy's types must fit the arbiter's input as they are.
export const fits = (s: Strategy, v: Via): [StrategyInput, Via] => [s, v];

const subset = fc.subarray(NAMES, { minLength: 1 });
const strategyArb = fc.record({
  channels: subset,
  timezone: fc.constantFrom(...ZONES),
  consent: fc.constantFrom("opt_in" as const, "opt_out" as const),
  quiet: fc.option(fc.tuple(fc.integer({ min: 0, max: 47 }), fc.integer({ min: 1, max: 47 })), { nil: null }),
  frequency: fc.array(
    fc.record({
      max: fc.integer({ min: 1, max: 3 }),
      perMs: fc.constantFrom(HOUR, 6 * HOUR, DAY, 2 * DAY, 7 * DAY),
      channels: fc.option(subset, { nil: null }),
    }),
    { maxLength: 3 },
  ),
  minGapMs: fc.constantFrom(0, 0, HOUR, 4 * HOUR),
  channelOrder: fc.shuffledSubarray(NAMES),
  controlGroup: fc.constantFrom(0, 0.2),
});
const customerArb = fc.record({
  email: fc.constantFrom("a@example.com", null, ""),
  phone: fc.constantFrom("+4915100000000", null),
  telegram: fc.constantFrom("77", null),
  timezone: fc.option(fc.constantFrom(...ZONES), { nil: null }),
  consents: fc.dictionary(fc.constantFrom(...NAMES), fc.constantFrom("opted_in", "unsubscribed", "unknown")),
  preferred: fc.option(fc.constantFrom(...NAMES, "push"), { nil: null }),
  /** 0: erased (one customer in ten). */
  erasedFlag: fc.integer({ min: 0, max: 9 }),
  undeliverable: fc.subarray(NAMES, { maxLength: 2 }),
  engagement: fc.dictionary(
    fc.constantFrom(...NAMES),
    fc.record({ messages: fc.nat(8), opens: fc.nat(4), clicks: fc.nat(2) }),
  ),
});
const scenarioArb = fc.record({
  transactional: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  priority: fc.integer({ min: 0, max: 100 }),
  via: fc.option(subset, { nil: null }),
  onQuietHours: fc.constantFrom("defer" as const, "drop" as const),
  onFrequencyCap: fc.constantFrom("skip" as const, "defer" as const),
  templateChannels: fc.option(subset, { nil: null }),
  control: fc.constantFrom(0, 0, 0.3),
});
const worldArb = fc.record({
  strategy: strategyArb,
  customers: fc.array(customerArb, { minLength: 1, maxLength: 5 }),
  scenarios: fc.array(scenarioArb, { minLength: 1, maxLength: 4 }),
  events: fc.array(
    fc.record({
      customer: fc.nat(4),
      scenario: fc.nat(3),
      at: fc.integer({ min: 0, max: 14 * 24 * 4 }),
      /** more scenarios due for the same customer at the same moment: one round decides them together */
      burst: fc.nat(2),
    }),
    { maxLength: 60 },
  ),
  workers: fc.array(fc.integer({ min: 0, max: 120_000 }), { minLength: 1, maxLength: 4 }),
  seed: fc.integer(),
});
type World = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;

function buildStrategy(w: World): StrategyInput {
  const s = w.strategy;
  return {
    timezone: s.timezone,
    rules: {
      consent: s.consent,
      quietHours:
        s.quiet && s.quiet[0] !== s.quiet[1] ? { start: s.quiet[0] * 30, end: s.quiet[1] * 30 } : null,
      frequency: s.frequency,
      minGapMs: s.minGapMs,
      channelOrder: s.channelOrder,
    },
    channels: Object.fromEntries(POOL.filter((c) => s.channels.includes(c.name)).map((c) => [c.name, c])),
  };
}

const PERIODS = (fraction: number) => [{ salt: "world", from: 0, fraction }];

function buildCustomer(w: World, i: number): ArbiterCustomer {
  const c = w.customers[i % w.customers.length]!;
  return {
    facts: {
      customer_id: `c${i}`,
      email: c.email,
      phone: c.phone,
      telegram_chat_id: c.telegram,
      timezone: c.timezone,
      consents: Object.fromEntries(Object.entries(c.consents).map(([k, state]) => [k, { state }])),
      preferred_channel: c.preferred,
    },
    erased: c.erasedFlag === 0,
    globalControl: { periods: PERIODS(w.strategy.controlGroup) },
    undeliverable: Object.fromEntries(c.undeliverable.map((ch) => [ch, "hard_bounced" as const])),
  };
}

function buildRequest(w: World, n: number, scenarioIndex: number): MessageRequest {
  const sIndex = scenarioIndex % w.scenarios.length;
  const s = w.scenarios[sIndex]!;
  return {
    id: `r${n}`,
    scenario: `s${sIndex}`,
    kind: s.transactional ? "transactional" : "marketing",
    priority: s.priority,
    via: s.via === null ? { kind: "best" } : { kind: "channels", channels: s.via },
    onQuietHours: s.onQuietHours,
    onFrequencyCap: s.onFrequencyCap,
    templateChannels: s.templateChannels,
    scenarioControl: { salt: "world", scope: `s${sIndex}`, control: s.control },
  };
}

interface Pending {
  req: MessageRequest;
  customer: number;
  due: number;
  first: number | null;
}
interface Send {
  req: MessageRequest;
  customer: number;
  at: number;
  channel: string;
}
interface Outcome {
  strategy: StrategyInput;
  customers: ArbiterCustomer[];
  sends: Send[];
  finals: Map<string, Decision>;
  /** when each request got its final fate */
  finalAt: Map<string, number>;
  firstDecided: Map<string, number>;
  requests: Pending[];
  deferrals: Set<string>;
}

/** A deterministic stand-in for the order in which workers happen to claim work. */
function hash(...parts: number[]): number {
  let h = 2166136261;
  for (const p of parts) h = Math.imul(h ^ (p | 0), 16777619) >>> 0;
  return h;
}

function usageAt(strategy: StrategyInput, sends: readonly Send[], now: number): Record<string, ChannelUsage> {
  const zone = isZone(strategy.timezone) ? strategy.timezone : "UTC";
  const usage: Record<string, ChannelUsage> = {};
  for (const c of Object.values(strategy.channels)) {
    const count = (limit: ChannelInput["capacity"]) => {
      if (limit === null) return undefined;
      const win = limitWindow(limit, new Date(now), zone);
      const used = sends.filter(
        (s) => s.channel === c.name && s.at >= win.start.getTime() && s.at < win.end.getTime(),
      ).length;
      return { used, windowEnd: win.end };
    };
    const capacity = count(c.capacity);
    const rate = count(c.rate);
    usage[c.name] = { ...(capacity ? { capacity } : {}), ...(rate ? { rate } : {}) };
  }
  return usage;
}

function simulate(w: World, lags: readonly number[]): Outcome {
  const strategy = buildStrategy(w);
  const customers = w.customers.map((_, i) => buildCustomer(w, i));
  const requests: Pending[] = w.events.flatMap((e, n) =>
    Array.from({ length: e.burst + 1 }, (_, k) => ({
      req: buildRequest(w, n * 3 + k, e.scenario + k),
      customer: e.customer % customers.length,
      due: T0 + e.at * 15 * MIN,
      first: null,
    })),
  );
  let pending = [...requests];
  const sends: Send[] = [];
  const finals = new Map<string, Decision>();
  const firstDecided = new Map<string, number>();
  const deferrals = new Set<string>();
  const finalAt = new Map<string, number>();
  for (let guard = 0; pending.length > 0; guard++) {
    assert.ok(guard < 20_000, "the simulation does not come to an end");
    // The next claim: the due item a worker reaches first; the worker takes everything due for that customer.
    const effective = (p: Pending) => p.due + (lags[hash(w.seed, p.customer, p.due) % lags.length] ?? 0);
    let next = pending[0]!;
    for (const p of pending) {
      const a = effective(p);
      const b = effective(next);
      if (a < b || (a === b && hash(w.seed, p.customer) < hash(w.seed, next.customer))) next = p;
    }
    const now = effective(next);
    const round = pending.filter((p) => p.customer === next.customer && p.due <= now);
    pending = pending.filter((p) => !round.includes(p));
    const customer = customers[next.customer]!;
    const history: SentMessage[] = sends
      .filter((s) => s.customer === next.customer)
      .map((s) => ({ at: new Date(s.at), channel: s.channel, kind: s.req.kind }));
    const results = decideRound({
      now: new Date(now),
      customer,
      strategy,
      history,
      engagement: w.customers[next.customer]?.engagement ?? {},
      usage: usageAt(strategy, sends, now),
      requests: round.map((p) =>
        p.first === null ? p.req : { ...p.req, firstDecidedAt: new Date(p.first) },
      ),
    });
    results.forEach(({ decision }, i) => {
      const item = round[i]!;
      if (!firstDecided.has(item.req.id)) firstDecided.set(item.req.id, now);
      if (decision.fate === "deferred") {
        assert.ok(decision.until.getTime() > now, `a deferral must move forward: ${decision.reason}`);
        pending.push({ ...item, due: decision.until.getTime(), first: item.first ?? now });
        deferrals.add(`deferred:${decision.reason}`);
        return;
      }
      finals.set(item.req.id, decision);
      finalAt.set(item.req.id, now);
      if (decision.fate === "send") {
        sends.push({ req: item.req, customer: item.customer, at: now, channel: decision.channel });
      }
    });
  }
  return { strategy, customers, sends, finals, finalAt, firstDecided, requests, deferrals };
}

function isZone(zone: string | null): zone is string {
  if (!zone) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Local minutes after midnight, read straight from Intl (not through the code under test). */
function localMinute(at: number, zone: string): number {
  const text = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(at);
  const [h, m] = text.split(":").map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

function hasAddress(c: ArbiterCustomer, ch: ChannelInput): boolean {
  const f = c.facts;
  const value = ch.contact === "email" ? f.email : ch.contact === "phone" ? f.phone : f.telegram_chat_id;
  return typeof value === "string" && value !== "" && c.undeliverable?.[ch.name] === undefined;
}

/** The zone quiet hours must follow: the customer's if Intl knows it, else the workspace's, else UTC. */
function zoneOf(c: ArbiterCustomer, strategy: StrategyInput): string {
  if (isZone(c.facts.timezone)) return c.facts.timezone;
  return isZone(strategy.timezone) ? strategy.timezone : "UTC";
}

function inQuiet(q: { start: number; end: number }, minute: number): boolean {
  return q.start < q.end ? minute >= q.start && minute < q.end : minute >= q.start || minute < q.end;
}

/** Each send on its own: to whom, on which channel, when. */
function checkSends(w: World, o: Outcome): void {
  const rules = o.strategy.rules;
  const ids = o.sends.map((s) => s.req.id);
  assert.equal(new Set(ids).size, ids.length, "a request was sent twice");
  assert.equal(o.finals.size, o.requests.length, "every request ends sent or suppressed");

  for (const s of o.sends) {
    const c = o.customers[s.customer]!;
    const ch = o.strategy.channels[s.channel]!;
    const scenario = w.scenarios[Number(s.req.scenario.slice(1))]!;
    assert.equal(c.erased, false, "sent to an erased customer");
    assert.ok(hasAddress(c, ch), `sent on ${s.channel} without a working address`);
    if (s.req.via.kind === "channels") assert.ok(s.req.via.channels.includes(s.channel));
    if (s.req.templateChannels) assert.ok(s.req.templateChannels.includes(s.channel));
    if (s.req.kind === "transactional") continue;
    const id = c.facts.customer_id;
    assert.equal(
      inGlobalControl(id, PERIODS(w.strategy.controlGroup), s.at),
      false,
      "sent to the global control",
    );
    const scenarioControl = bucketOf("world", id, s.req.scenario) < Math.round(scenario.control * BUCKETS);
    assert.equal(scenarioControl, false, "sent to the scenario's control group");
    const state = c.facts.consents[s.channel]?.state ?? "unknown";
    if (rules.consent === "opt_in") assert.equal(state, "opted_in", `sent on ${s.channel} without opt-in`);
    else assert.notEqual(state, "unsubscribed", `sent on ${s.channel} after an unsubscribe`);
    if (rules.quietHours) {
      const zone = zoneOf(c, o.strategy);
      const quiet = inQuiet(rules.quietHours, localMinute(s.at, zone));
      assert.equal(quiet, false, `sent at ${new Date(s.at).toISOString()} (${zone}) inside quiet hours`);
    }
  }
}

/** Every frequency rule in every rolling window, and the minimum gap, per customer. */
function checkWindows(o: Outcome): void {
  const rules = o.strategy.rules;
  o.customers.forEach((_, ci) => {
    const marketing = o.sends
      .filter((s) => s.customer === ci && s.req.kind === "marketing")
      .sort((a, b) => a.at - b.at);
    for (let i = 1; i < marketing.length; i++) {
      const gap = marketing[i]!.at - marketing[i - 1]!.at;
      assert.ok(gap >= rules.minGapMs, `minimum gap broken: ${gap} ms apart`);
    }
    rules.frequency.forEach((rule, ri) => {
      const times = marketing
        .filter((s) => rule.channels === null || rule.channels.includes(s.channel))
        .map((s) => s.at);
      for (const start of times) {
        const inWindow = times.filter((t) => t >= start && t < start + rule.perMs).length;
        assert.ok(
          inWindow <= rule.max,
          `rule ${ri + 1} broken: ${inWindow} > ${rule.max} in a window of ${rule.perMs} ms`,
        );
      }
    });
  });
}

/** No channel over its capacity or rate in any of its windows, counting every customer. */
function checkCapacity(o: Outcome): void {
  const zone = isZone(o.strategy.timezone) ? o.strategy.timezone : "UTC";
  for (const ch of Object.values(o.strategy.channels)) {
    for (const limit of [ch.capacity, ch.rate]) {
      if (limit === null) continue;
      for (const s of o.sends.filter((x) => x.channel === ch.name)) {
        const win = limitWindow(limit, new Date(s.at), zone);
        const used = o.sends.filter(
          (x) => x.channel === ch.name && x.at >= win.start.getTime() && x.at < win.end.getTime(),
        );
        assert.ok(used.length <= limit.count, `${ch.name} over its limit of ${limit.count}`);
      }
    }
  }
}

function checkTransactional(o: Outcome): void {
  // Transactional messages: whatever the caps, each goes at its first decision, unless no channel can carry it
  // or the channel's own limits are full (and then it still goes later).
  for (const r of o.requests.filter((p) => p.req.kind === "transactional")) {
    const c = o.customers[r.customer]!;
    const acceptable = Object.values(o.strategy.channels).filter(
      (ch) =>
        (r.req.via.kind === "best" || r.req.via.channels.includes(ch.name)) &&
        (r.req.templateChannels === null || r.req.templateChannels.includes(ch.name)),
    );
    const canGo = !c.erased && acceptable.some((ch) => hasAddress(c, ch));
    const final = o.finals.get(r.req.id);
    assert.equal(final?.fate === "send", canGo, `transactional ${r.req.id}: ${final?.fate}`);
    const sent = o.sends.find((s) => s.req.id === r.req.id);
    const limited = sent !== undefined && (o.strategy.channels[sent.channel]?.capacity ?? null) !== null;
    if (sent && !limited)
      assert.equal(sent.at, o.firstDecided.get(r.req.id), "a transactional message waited");
  }
}

/** The other side: a message is held back only for a reason that really holds at the moment of the decision. */
function checkNotOverStrict(o: Outcome): void {
  const rules = o.strategy.rules;
  for (const r of o.requests) {
    const d = o.finals.get(r.req.id);
    const at = o.finalAt.get(r.req.id);
    if (d === undefined || at === undefined || d.fate !== "suppressed") continue;
    const c = o.customers[r.customer]!;
    if (d.reason === "frequency_capped") {
      const marketing = o.sends.filter(
        (s) => s.customer === r.customer && s.req.kind === "marketing" && s.at <= at,
      );
      const ch = d.channel ?? "";
      const binding = rules.frequency.some(
        (rule) =>
          (rule.channels === null || rule.channels.includes(ch)) &&
          marketing.filter(
            (s) => (rule.channels === null || rule.channels.includes(s.channel)) && at - s.at < rule.perMs,
          ).length >= rule.max,
      );
      const gap = marketing.some((s) => at - s.at < rules.minGapMs);
      assert.ok(binding || gap, `${r.req.id} capped at ${new Date(at).toISOString()} with no rule binding`);
    }
    if (d.reason === "quiet_hours_dropped" && rules.quietHours) {
      const m = localMinute(at, zoneOf(c, o.strategy));
      assert.ok(inQuiet(rules.quietHours, m), `${r.req.id} dropped outside quiet hours`);
    }
    if (d.reason === "no_consent" || d.reason === "unreachable") {
      const usable = Object.values(o.strategy.channels).filter((ch) => {
        const acceptable =
          (r.req.via.kind === "best" || r.req.via.channels.includes(ch.name)) &&
          (r.req.templateChannels === null || r.req.templateChannels.includes(ch.name));
        const state = c.facts.consents[ch.name]?.state ?? "unknown";
        const consented =
          r.req.kind === "transactional" ||
          (rules.consent === "opt_in" ? state === "opted_in" : state !== "unsubscribed");
        return acceptable && hasAddress(c, ch) && consented;
      });
      assert.deepEqual(
        usable.map((ch) => ch.name),
        [],
        `${r.req.id} suppressed ${d.reason} although a channel was usable`,
      );
    }
  }
}

function checkLaws(w: World, o: Outcome): void {
  checkSends(w, o);
  checkWindows(o);
  checkCapacity(o);
  checkTransactional(o);
  checkNotOverStrict(o);
}

test("one worker: no rule is ever broken over random strategies, customers and two weeks of requests", () => {
  fc.assert(
    fc.property(worldArb, (w) => {
      const o = simulate(w, [0]);
      checkLaws(w, o);
    }),
    { numRuns: 150 },
  );
});

test("several lagging workers interleaving customers: the same laws hold", () => {
  fc.assert(
    fc.property(worldArb, (w) => {
      const o = simulate(w, w.workers);
      checkLaws(w, o);
    }),
    { numRuns: 150 },
  );
});

test("the simulated worlds do reach every fate, so the laws above are tested on real traffic", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(worldArb, (w) => {
      const o = simulate(w, w.workers);
      for (const d of o.finals.values()) seen.add(d.fate === "send" ? "send" : `${d.fate}:${d.reason}`);
      for (const d of o.deferrals) seen.add(d);
      return true;
    }),
    { numRuns: 200, seed: 7 },
  );
  for (const fate of [
    "send",
    "suppressed:erased",
    "suppressed:control_group",
    "suppressed:no_consent",
    "suppressed:unreachable",
    "suppressed:frequency_capped",
    "suppressed:quiet_hours_dropped",
    "deferred:quiet_hours",
    "deferred:frequency_capped",
    "deferred:capacity",
  ]) {
    assert.ok(seen.has(fate), `no world produced ${fate}`);
  }
});
