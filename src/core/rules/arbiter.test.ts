// The arbiter's order and reasons (SPEC §5): erased → control group → consent and reachability → channel choice
// → quiet hours → frequency and minimum gap → priority → channel limits, and what transactional messages skip.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decide, decideRound } from "./arbiter.ts";
import { undeliverableChannels } from "./consent.ts";
import type {
  ArbiterCustomer,
  ArbiterInput,
  ChannelInput,
  CheckName,
  Decision,
  MessageRequest,
  RulesInput,
  SentMessage,
  StrategyInput,
} from "./types.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOON = new Date("2026-06-10T09:00:00Z"); // 12:00 in Moscow

const channel = (name: string, contact: ChannelInput["contact"], cost: number): ChannelInput => ({
  name,
  kind: name,
  contact,
  cost,
  capacity: null,
  rate: null,
});

function strategy(rules: Partial<RulesInput> = {}, channels?: ChannelInput[]): StrategyInput {
  const list = channels ?? [
    channel("email", "email", 0.05),
    channel("sms", "phone", 3.5),
    channel("telegram", "telegram", 0),
  ];
  return {
    timezone: "Europe/Moscow",
    rules: {
      consent: "opt_in",
      quietHours: { start: 21 * 60, end: 9 * 60 },
      frequency: [],
      minGapMs: 0,
      channelOrder: ["telegram", "email", "sms"],
      ...rules,
    },
    channels: Object.fromEntries(list.map((c) => [c.name, c])),
  };
}

function customer(
  over: Partial<ArbiterCustomer["facts"]> = {},
  extra: Partial<ArbiterCustomer> = {},
): ArbiterCustomer {
  return {
    facts: {
      customer_id: "anna",
      email: "anna@example.com",
      phone: "+79990000000",
      telegram_chat_id: "42",
      timezone: "Europe/Moscow",
      consents: { email: { state: "opted_in" }, sms: { state: "opted_in" }, telegram: { state: "opted_in" } },
      preferred_channel: null,
      ...over,
    },
    erased: false,
    globalControl: false,
    ...extra,
  };
}

function request(over: Partial<MessageRequest> = {}): MessageRequest {
  return {
    id: "m1",
    scenario: "welcome",
    kind: "marketing",
    priority: 50,
    via: { kind: "channels", channels: ["email", "sms"] },
    onQuietHours: "defer",
    onFrequencyCap: "skip",
    templateChannels: null,
    scenarioControl: false,
    ...over,
  };
}

function input(over: Partial<ArbiterInput> = {}): ArbiterInput {
  return { now: NOON, customer: customer(), strategy: strategy(), history: [], request: request(), ...over };
}

const sent = (at: Date | number, ch: string, kind: SentMessage["kind"] = "marketing"): SentMessage => ({
  at: new Date(at),
  channel: ch,
  kind,
});

function fate(d: Decision): string {
  if (d.fate === "send") return `send:${d.channel}`;
  if (d.fate === "suppressed") return `suppressed:${d.reason}`;
  return `deferred:${d.reason}:${d.until.toISOString()}`;
}

test("the first failing check decides: erased beats control group beats consent", () => {
  const everything = customer({ consents: {} }, { erased: true, globalControl: true });
  const d = decide(input({ customer: everything, request: request({ scenarioControl: true }) }));
  assert.equal(fate(d), "suppressed:erased");
  assert.deepEqual(
    d.trace.map((t) => t.check),
    ["erased"],
  );
  const controlled = decide(input({ customer: { ...everything, erased: false } }));
  assert.equal(fate(controlled), "suppressed:control_group");
  const scenarioControlled = decide(
    input({ customer: customer({ consents: {} }), request: request({ scenarioControl: true }) }),
  );
  assert.equal(fate(scenarioControlled), "suppressed:control_group");
  assert.match(scenarioControlled.trace.at(-1)?.detail ?? "", /scenario 'welcome'/);
});

test("control groups computed from salts are sticky and follow the share", () => {
  const periods = [{ salt: "s1", from: 0, fraction: 0.3 }];
  let inControl = 0;
  for (let i = 0; i < 2000; i++) {
    const c = customer({ customer_id: String(i) }, { globalControl: { periods } });
    const a = decide(input({ customer: c }));
    const b = decide(input({ customer: c, now: new Date(NOON.getTime() + 3 * HOUR) }));
    assert.equal(fate(a), fate(b));
    if (a.fate === "suppressed" && a.reason === "control_group") inControl++;
  }
  assert.ok(inControl > 500 && inControl < 700, `${inControl} of 2000 in a 30% control group`);
});

test("consent under opt_in needs opted_in; under opt_out only an unsubscribe stops it", () => {
  const unknown = customer({ consents: { sms: { state: "opted_in" } } });
  assert.equal(fate(decide(input({ customer: unknown }))), "send:sms");
  const none = customer({ consents: {} });
  assert.equal(fate(decide(input({ customer: none }))), "suppressed:no_consent");
  const optOut = strategy({ consent: "opt_out" });
  assert.equal(fate(decide(input({ customer: none, strategy: optOut }))), "send:email");
  const unsubscribed = customer({
    consents: { email: { state: "unsubscribed" }, sms: { state: "unsubscribed" } },
  });
  assert.equal(fate(decide(input({ customer: unsubscribed, strategy: optOut }))), "suppressed:no_consent");
});

test("an unusable channel passes the message to the next acceptable one", () => {
  const bounced = customer({}, { undeliverable: { email: "hard_bounced" } });
  const d = decide(input({ customer: bounced }));
  assert.equal(fate(d), "send:sms");
  assert.ok(
    d.trace.some((t) => t.check === "consent" && t.channel === "email" && /hard bounced/.test(t.detail)),
  );
  const unsub = customer({ consents: { email: { state: "unsubscribed" }, sms: { state: "opted_in" } } });
  assert.equal(fate(decide(input({ customer: unsub }))), "send:sms");
});

test("an address found not to work marks every channel of its contact kind, only while the customer keeps it", () => {
  const channels = [
    channel("email", "email", 0.01),
    channel("news", "email", 0.01),
    channel("sms", "phone", 1),
  ];
  const found = { email: { address: "ann@example.com", reason: "hard_bounced" as const } };
  const facts = customer({ email: "ann@example.com" }).facts;
  assert.deepEqual(undeliverableChannels(facts, found, channels), {
    email: "hard_bounced",
    news: "hard_bounced",
  });
  assert.equal(undeliverableChannels({ ...facts, email: "ann@new.example.com" }, found, channels), undefined);
  assert.equal(undeliverableChannels(facts, null, channels), undefined);
});

test("no usable channel: no_consent when an address worked and only consent was missing, else unreachable", () => {
  const noAddresses = customer({ email: null, phone: "" });
  assert.equal(fate(decide(input({ customer: noAddresses }))), "suppressed:unreachable");
  const mixed = customer({ email: null, consents: { sms: { state: "unsubscribed" } } });
  assert.equal(fate(decide(input({ customer: mixed }))), "suppressed:no_consent");
  const invalid = customer({ consents: {} }, { undeliverable: { email: "invalid", sms: "invalid" } });
  assert.equal(fate(decide(input({ customer: invalid }))), "suppressed:unreachable");
});

test("a template without a body for any acceptable channel suppresses with no_template", () => {
  const d = decide(input({ request: request({ templateChannels: ["telegram"] }) }));
  assert.equal(fate(d), "suppressed:no_template");
  const only = decide(input({ request: request({ templateChannels: ["sms"] }) }));
  assert.equal(fate(only), "send:sms");
});

test("channel choice: preference, then engagement for best, then channel order, ties to the cheaper", () => {
  const prefersSms = customer({ preferred_channel: "sms" });
  const viaAll = request({ via: { kind: "channels", channels: ["email", "sms", "telegram"] } });
  const preferred = decide(input({ customer: prefersSms, request: viaAll }));
  assert.equal(fate(preferred), "send:sms");
  assert.deepEqual(preferred.fate === "send" ? preferred.reasons : [], ["preference"]);
  // A preference outside the step's channels is ignored.
  const prefersPush = customer({ preferred_channel: "push" });
  assert.equal(fate(decide(input({ customer: prefersPush, request: viaAll }))), "send:telegram");

  const best = request({ via: { kind: "best" } });
  const engagement = {
    email: { messages: 10, opens: 6, clicks: 2 },
    sms: { messages: 4, opens: 0, clicks: 3 },
    telegram: { messages: 2, opens: 2, clicks: 2 },
  };
  const engaged = decide(input({ request: best, engagement }));
  assert.equal(fate(engaged), "send:email"); // 0.8 beats 0.75; telegram has too few messages to count
  // Only one channel with ≥ 3 messages: engagement says nothing, the channel order decides.
  const thin = decide(input({ request: best, engagement: { email: engagement.email } }));
  assert.equal(fate(thin), "send:telegram");
  // Equal engagement goes to the cheaper channel, whatever the channel order says.
  const tie = { email: { messages: 4, opens: 2, clicks: 0 }, sms: { messages: 8, opens: 2, clicks: 2 } };
  const noTelegram = customer({ telegram_chat_id: null });
  const smsFirst = strategy({ channelOrder: ["sms", "email"] });
  const tied = decide(input({ customer: noTelegram, strategy: smsFirst, request: best, engagement: tie }));
  assert.equal(fate(tied), "send:email");
  assert.equal(fate(decide(input({ customer: noTelegram, strategy: smsFirst, request: best }))), "send:sms");
  // Channels outside the channel order tie among themselves and go to the cheaper.
  const unordered = strategy({ channelOrder: [] });
  assert.equal(fate(decide(input({ strategy: unordered, request: viaAll }))), "send:telegram");
  assert.equal(fate(decide(input({ strategy: unordered }))), "send:email");
});

test("quiet hours defer to the end of the period in the customer's zone, or drop when the scenario says so", () => {
  const late = new Date("2026-06-10T19:30:00Z"); // 22:30 Moscow, 21:30 Berlin, 15:30 New York
  const d = decide(input({ now: late }));
  assert.equal(fate(d), "deferred:quiet_hours:2026-06-11T06:00:00.000Z");
  const dropped = decide(input({ now: late, request: request({ onQuietHours: "drop" }) }));
  assert.equal(fate(dropped), "suppressed:quiet_hours_dropped");
  const newYorker = customer({ timezone: "America/New_York" });
  assert.equal(fate(decide(input({ now: late, customer: newYorker }))), "send:email");
  // An unknown zone falls back to the workspace's (Moscow: quiet) and says so.
  const lost = decide(input({ now: late, customer: customer({ timezone: "Europe/Atlantis" }) }));
  assert.equal(fate(lost), "deferred:quiet_hours:2026-06-11T06:00:00.000Z");
  assert.ok(lost.trace.some((t) => t.check === "quiet_hours" && /Europe\/Atlantis/.test(t.detail)));
});

test("frequency rules count only sent marketing messages in rolling windows, per their channel scope", () => {
  const rules = strategy({
    frequency: [
      { max: 1, perMs: DAY, channels: ["sms"] },
      { max: 3, perMs: 7 * DAY, channels: null },
    ],
  });
  const now = NOON.getTime();
  // An sms 23 h ago blocks sms but not email.
  const smsYesterday = [sent(now - 23 * HOUR, "sms")];
  const smsOnly = request({ via: { kind: "channels", channels: ["sms"] } });
  assert.equal(
    fate(decide(input({ strategy: rules, history: smsYesterday, request: smsOnly }))),
    "suppressed:frequency_capped",
  );
  assert.equal(fate(decide(input({ strategy: rules, history: smsYesterday }))), "send:email");
  // 25 h ago has left the window.
  const older = [sent(now - 25 * HOUR, "sms")];
  assert.equal(fate(decide(input({ strategy: rules, history: older, request: smsOnly }))), "send:sms");
  // Three messages on any channels within 7 days block everything; transactional ones do not count.
  const three = [sent(now - 6 * DAY, "email"), sent(now - 3 * DAY, "telegram"), sent(now - 2 * DAY, "sms")];
  const capped = decide(input({ strategy: rules, history: three }));
  assert.equal(fate(capped), "suppressed:frequency_capped");
  assert.ok(capped.trace.some((t) => t.check === "frequency" && /rule 2/.test(t.detail)));
  const receipts = three.map((m) => ({ ...m, kind: "transactional" as const }));
  assert.equal(fate(decide(input({ strategy: rules, history: receipts }))), "send:email");
});

test("the minimum gap holds across channels", () => {
  const rules = strategy({ minGapMs: 4 * HOUR });
  const recent = [sent(NOON.getTime() - 3 * HOUR, "telegram")];
  assert.equal(fate(decide(input({ strategy: rules, history: recent }))), "suppressed:frequency_capped");
  const deferred = decide(
    input({ strategy: rules, history: recent, request: request({ onFrequencyCap: "defer" }) }),
  );
  assert.equal(fate(deferred), `deferred:frequency_capped:${new Date(NOON.getTime() + HOUR).toISOString()}`);
  assert.ok(deferred.trace.some((t) => t.check === "min_gap"));
});

test("deferral waits for the earliest moment every rule allows, within 72 h of the first decision", () => {
  const rules = strategy({
    frequency: [
      { max: 2, perMs: DAY, channels: null },
      { max: 1, perMs: 2 * DAY, channels: ["email"] },
    ],
    quietHours: null,
  });
  const now = NOON.getTime();
  const history = [sent(now - 20 * HOUR, "email"), sent(now - 2 * HOUR, "sms")];
  const defer = request({ onFrequencyCap: "defer", via: { kind: "channels", channels: ["email"] } });
  // Rule 1 opens at now + 4 h, rule 2 (email, 2 days) at now + 28 h: the later one.
  const d = decide(input({ strategy: rules, history, request: defer }));
  assert.equal(fate(d), `deferred:frequency_capped:${new Date(now + 28 * HOUR).toISOString()}`);
  // First decided 50 h ago: the limit is 22 h ahead, before 28 h → suppressed.
  const old = { ...defer, firstDecidedAt: new Date(now - 50 * HOUR) };
  assert.equal(
    fate(decide(input({ strategy: rules, history, request: old }))),
    "suppressed:frequency_capped",
  );
  // A weekly cap three days from clearing cannot be waited for either.
  const weekly = strategy({ frequency: [{ max: 1, perMs: 7 * DAY, channels: null }] });
  const lastWeek = [sent(now - 3 * DAY, "email")];
  assert.equal(
    fate(decide(input({ strategy: weekly, history: lastWeek, request: defer }))),
    "suppressed:frequency_capped",
  );
});

test("a frequency deferral that would wake inside quiet hours wakes when they end", () => {
  const rules = strategy({ minGapMs: 12 * HOUR });
  const history = [sent(NOON.getTime() - 2 * HOUR, "email")]; // gap ends 22:00 Moscow, inside 21:00-09:00
  const d = decide(input({ strategy: rules, history, request: request({ onFrequencyCap: "defer" }) }));
  assert.equal(fate(d), "deferred:frequency_capped:2026-06-11T06:00:00.000Z");
});

test("a round decides higher priority first and counts its send against the others", () => {
  const rules = strategy({ frequency: [{ max: 1, perMs: DAY, channels: null }] });
  const low = request({ id: "low", scenario: "promo", priority: 10 });
  const high = request({ id: "high", scenario: "winback", priority: 90 });
  const receipt = request({ id: "receipt", scenario: "receipt", kind: "transactional", priority: 0 });
  const results = decideRound({
    now: NOON,
    customer: customer(),
    strategy: rules,
    history: [],
    requests: [low, receipt, high],
  });
  assert.deepEqual(
    results.map((r) => [r.request.id, fate(r.decision)]),
    [
      ["low", "suppressed:frequency_capped"],
      ["receipt", "send:email"],
      ["high", "send:email"],
    ],
  );
  const highTrace = results[2]?.decision.trace.find((t) => t.check === "priority");
  assert.match(highTrace?.detail ?? "", /1 of 2|2 of 3/);
});

test("channel capacity and rate defer to the next free slot; transactional messages wait for them too", () => {
  const call: ChannelInput = {
    ...channel("call", "phone", 60),
    capacity: { count: 200, perMs: DAY },
    rate: { count: 5, perMs: 1000 },
  };
  const withCall = strategy({}, [call, channel("email", "email", 0.05)]);
  const viaCall = request({ via: { kind: "channels", channels: ["call"] } });
  const consents = customer({ consents: { call: { state: "opted_in" } } });
  const tomorrow = new Date("2026-06-10T21:00:00Z"); // Moscow midnight
  const full = { call: { capacity: { used: 200, windowEnd: tomorrow } } };
  const d = decide(input({ strategy: withCall, customer: consents, request: viaCall, usage: full }));
  assert.equal(fate(d), `deferred:capacity:${tomorrow.toISOString()}`);
  const room = {
    call: {
      capacity: { used: 199, windowEnd: tomorrow },
      rate: { used: 4, windowEnd: new Date(NOON.getTime() + 1000) },
    },
  };
  assert.equal(
    fate(decide(input({ strategy: withCall, customer: consents, request: viaCall, usage: room }))),
    "send:call",
  );
  // A count from a window that has ended does not hold anything back.
  const stale = { call: { capacity: { used: 500, windowEnd: NOON } } };
  assert.equal(
    fate(decide(input({ strategy: withCall, customer: consents, request: viaCall, usage: stale }))),
    "send:call",
  );
  // In a round the transactional send takes the day's and the second's last places; the other waits for both.
  const twice = [
    { ...viaCall, id: "a" },
    { ...viaCall, id: "b", kind: "transactional" as const },
  ];
  const round = decideRound({
    now: NOON,
    customer: consents,
    strategy: withCall,
    history: [],
    usage: room,
    requests: twice,
  });
  assert.deepEqual(
    round.map((r) => fate(r.decision)),
    [`deferred:capacity:${tomorrow.toISOString()}`, "send:call"],
  );
});

test("transactional messages skip control groups, quiet hours and caps, and need only an address", () => {
  const rules = strategy({ frequency: [{ max: 1, perMs: 7 * DAY, channels: null }], minGapMs: 6 * HOUR });
  const late = new Date("2026-06-10T20:00:00Z"); // 23:00 Moscow
  const unsubscribed = customer(
    { consents: { email: { state: "unsubscribed" }, sms: { state: "unsubscribed" } } },
    { globalControl: true },
  );
  const receipt = request({ kind: "transactional", scenarioControl: true });
  const history = [sent(late.getTime() - HOUR, "email")];
  const d = decide(input({ now: late, strategy: rules, customer: unsubscribed, request: receipt, history }));
  assert.equal(fate(d), "send:email");
  const skipped = d.trace.filter((t) => t.result === "skipped").map((t) => t.check);
  assert.deepEqual(skipped, ["control_group", "quiet_hours", "frequency", "priority"]);
  // Still no address, still no message; still nothing for the erased.
  const noAddress = customer({ email: null, phone: null }, {});
  assert.equal(fate(decide(input({ customer: noAddress, request: receipt }))), "suppressed:unreachable");
  const erased = customer({}, { erased: true });
  assert.equal(fate(decide(input({ customer: erased, request: receipt }))), "suppressed:erased");
});

test("the trace lists the checks in the specified order", () => {
  const d = decide(input({ strategy: strategy({ frequency: [{ max: 5, perMs: DAY, channels: null }] }) }));
  const order: CheckName[] = [
    "erased",
    "control_group",
    "consent",
    "channel_choice",
    "quiet_hours",
    "frequency",
    "priority",
    "capacity",
  ];
  const seen = [...new Set(d.trace.map((t) => t.check))].filter((c) => order.includes(c));
  const expected = order.filter((c) => seen.includes(c));
  assert.deepEqual(seen, expected);
  assert.ok(seen.length >= 6);
});
