// The arbiter (SPEC §5): every message passes the checks in a fixed order at the moment of sending, and the
// first that fails decides its fate. Pure: the moment, the history and the usage all come in as arguments,
// and every check made is written to the decision's trace so "why did or didn't Anna get this?" is answerable.

import { chooseTimeZone, formatLocal, formatMinute } from "../time-zone.ts";
import { nextFreeSlot, withOneMore } from "./capacity.ts";
import { byChannelOrder, chooseChannel } from "./channel-choice.ts";
import { usableChannels } from "./consent.ts";
import { inGlobalControlGroup, inScenarioControlGroup } from "./control-group.ts";
import { blockersAt, describeBlocker, earliestAllowed, MAX_FREQUENCY_DEFERRAL_MS } from "./frequency.ts";
import { quietPeriodEnd } from "./quiet-hours.ts";
import type {
  ArbiterContext,
  ArbiterInput,
  ChannelInput,
  ChannelUsage,
  ChoiceReason,
  Decision,
  MessageRequest,
  RoundInput,
  RoundResult,
  SuppressReason,
  TraceEntry,
} from "./types.ts";

/** Decides one message alone; several due for one customer in one round go through `decideRound`. */
export function decide(input: ArbiterInput): Decision {
  return decideOne(input, input.request, null);
}

/**
 * Decides every message due for one customer in one round: transactional ones first, then marketing ones in
 * priority order (higher first; equal priorities in the order given), each send counted as sent — for the
 * frequency rules and the channel limits — when the next one is decided. Results come back in the order given.
 */
export function decideRound(input: RoundInput): RoundResult[] {
  const order = input.requests
    .map((request, given) => ({ request, given }))
    .sort(
      (a, b) =>
        rankKind(a.request) - rankKind(b.request) ||
        (a.request.kind === "marketing" ? b.request.priority - a.request.priority : 0) ||
        a.given - b.given,
    );
  const history = [...input.history];
  const usage: Record<string, ChannelUsage> = { ...input.usage };
  const results: RoundResult[] = new Array(input.requests.length);
  const zone = chooseTimeZone(null, input.strategy.timezone).zone;
  order.forEach(({ request, given }, position) => {
    const note =
      request.kind === "transactional"
        ? null
        : `decided ${position + 1} of ${order.length} in this round (priority ${request.priority}; higher first)`;
    const decision = decideOne({ ...input, history, usage }, request, note);
    if (decision.fate === "send") {
      history.push({ at: input.now, channel: decision.channel, kind: request.kind });
      const channel = input.strategy.channels[decision.channel];
      if (channel) usage[channel.name] = withOneMore(usage[channel.name], channel, input.now, zone);
    }
    results[given] = { request, decision };
  });
  return results;
}

function rankKind(r: MessageRequest): number {
  return r.kind === "transactional" ? 0 : 1;
}

function decideOne(ctx: ArbiterContext, request: MessageRequest, roundNote: string | null): Decision {
  const trace: TraceEntry[] = [];
  const held = holdBack(ctx, request, trace);
  if (held) return { fate: "suppressed", reason: held, channel: null, trace };
  const picked = pickChannel(ctx, request, trace);
  if (!("channel" in picked)) return { fate: "suppressed", reason: picked.failure, channel: null, trace };
  const { channel, reason } = picked;

  if (request.kind === "transactional") {
    trace.push({ check: "quiet_hours", result: "skipped", detail: "transactional" });
    trace.push({ check: "frequency", result: "skipped", detail: "transactional: not limited, not counted" });
    trace.push({ check: "priority", result: "skipped", detail: "transactional" });
  } else {
    const early =
      quietHoursCheck(ctx, request, channel, trace) ?? frequencyCheck(ctx, request, channel, trace);
    if (early) return early;
    const detail = roundNote ?? "decided alone";
    trace.push({ check: "priority", result: roundNote ? "passed" : "note", detail });
  }

  // 8. Channel capacity and rate limits.
  const slot = nextFreeSlot(channel, ctx.usage?.[channel.name], ctx.now, trace);
  if (slot.getTime() > ctx.now.getTime()) {
    return { fate: "deferred", reason: "capacity", until: slot, channel: channel.name, trace };
  }
  return { fate: "send", channel: channel.name, reasons: [reason], trace };
}

/** Rules 1 and 2: erased identifiers, then the control groups (global, then the scenario's). */
function holdBack(ctx: ArbiterContext, request: MessageRequest, trace: TraceEntry[]): SuppressReason | null {
  const customerId = ctx.customer.facts.customer_id;
  if (ctx.customer.erased) {
    trace.push({
      check: "erased",
      result: "failed",
      detail: "the customer is on the erasure suppression list",
    });
    return "erased";
  }
  trace.push({ check: "erased", result: "passed", detail: "not erased" });
  if (request.kind === "transactional") {
    trace.push({ check: "control_group", result: "skipped", detail: "transactional" });
    return null;
  }
  if (request.globalControl ?? inGlobalControlGroup(customerId, ctx.customer.globalControl, ctx.now)) {
    trace.push({ check: "control_group", result: "failed", detail: "in the global control group" });
    return "control_group";
  }
  if (inScenarioControlGroup(customerId, request.scenarioControl)) {
    const detail = `in the control group of scenario '${request.scenario}'`;
    trace.push({ check: "control_group", result: "failed", detail });
    return "control_group";
  }
  trace.push({ check: "control_group", result: "passed", detail: "in neither control group" });
  return null;
}

type Picked = { channel: ChannelInput; reason: ChoiceReason } | { failure: SuppressReason };

/** Rules 3 and 4: the acceptable channels the customer can be reached and messaged on, then the choice. */
function pickChannel(ctx: ArbiterContext, request: MessageRequest, trace: TraceEntry[]): Picked {
  const candidates = acceptableChannels(ctx, request, trace);
  if (candidates.length === 0) {
    trace.push({ check: "consent", result: "failed", detail: "no acceptable channel has a template body" });
    return { failure: "no_template" };
  }
  const transactional = request.kind === "transactional";
  const rules = ctx.strategy.rules;
  const { usable, failure } = usableChannels(ctx.customer, candidates, rules, transactional, trace);
  if (failure !== null) return { failure };
  const best = request.via.kind === "best";
  const preferred = ctx.customer.facts.preferred_channel;
  const choice = chooseChannel(usable, best, preferred, rules, ctx.engagement ?? {}, trace);
  if (choice === null) return { failure: "unreachable" };
  const detail = `chosen by ${choice.reason}`;
  trace.push({ check: "channel_choice", result: "passed", detail, channel: choice.channel.name });
  return choice;
}

/** The step's channels (or every channel, for `best`) that exist and have a template body, best first. */
function acceptableChannels(
  ctx: ArbiterContext,
  request: MessageRequest,
  trace: TraceEntry[],
): ChannelInput[] {
  const all = ctx.strategy.channels;
  const names =
    request.via.kind === "channels"
      ? request.via.channels
      : byChannelOrder(Object.values(all), ctx.strategy.rules.channelOrder).map((c) => c.name);
  const out: ChannelInput[] = [];
  for (const name of names) {
    const channel = Object.hasOwn(all, name) ? all[name] : undefined;
    if (channel === undefined) {
      trace.push({
        check: "consent",
        result: "note",
        detail: "not a channel of the strategy",
        channel: name,
      });
    } else if (request.templateChannels !== null && !request.templateChannels.includes(name)) {
      trace.push({
        check: "consent",
        result: "note",
        detail: "the template has no body for it",
        channel: name,
      });
    } else {
      out.push(channel);
    }
  }
  return out;
}

/** Rule 5 for marketing messages: quiet hours in the customer's zone. */
function quietHoursCheck(
  ctx: ArbiterContext,
  request: MessageRequest,
  channel: ChannelInput,
  trace: TraceEntry[],
): Decision | null {
  const now = ctx.now.getTime();
  const quiet = ctx.strategy.rules.quietHours;
  if (quiet === null) {
    trace.push({ check: "quiet_hours", result: "skipped", detail: "the strategy has no quiet hours" });
    return null;
  }
  const zone = chooseTimeZone(ctx.customer.facts.timezone, ctx.strategy.timezone);
  if (zone.note)
    trace.push({ check: "quiet_hours", result: "note", detail: `${zone.note}; using ${zone.zone}` });
  const end = quietPeriodEnd(quiet, now, zone.zone);
  const period = `${formatMinute(quiet.start)}-${formatMinute(quiet.end)}`;
  const local = `local time ${formatLocal(now, zone.zone)} (${zone.source})`;
  if (end === null) {
    trace.push({ check: "quiet_hours", result: "passed", detail: `${local} is outside ${period}` });
    return null;
  }
  const detail = `${local} is inside ${period}; it ends ${new Date(end).toISOString()}`;
  trace.push({ check: "quiet_hours", result: "failed", detail, channel: channel.name });
  if (request.onQuietHours === "drop") {
    return { fate: "suppressed", reason: "quiet_hours_dropped", channel: channel.name, trace };
  }
  return { fate: "deferred", reason: "quiet_hours", until: new Date(end), channel: channel.name, trace };
}

/** Rule 6 for marketing messages: every frequency rule and the minimum gap. */
function frequencyCheck(
  ctx: ArbiterContext,
  request: MessageRequest,
  channel: ChannelInput,
  trace: TraceEntry[],
): Decision | null {
  const now = ctx.now.getTime();
  const rules = ctx.strategy.rules;
  const blockers = blockersAt(rules, ctx.history, channel.name, now);
  if (blockers.length === 0) {
    trace.push({
      check: "frequency",
      result: "passed",
      detail: "every frequency rule and the minimum gap hold",
    });
    return null;
  }
  for (const b of blockers) {
    const check = b.kind === "min_gap" ? "min_gap" : "frequency";
    trace.push({ check, result: "failed", detail: describeBlocker(b), channel: channel.name });
  }
  if (request.onFrequencyCap === "skip") {
    return { fate: "suppressed", reason: "frequency_capped", channel: channel.name, trace };
  }
  const limit = (request.firstDecidedAt?.getTime() ?? now) + MAX_FREQUENCY_DEFERRAL_MS;
  const allowed = earliestAllowed(rules, ctx.history, channel.name, now, limit);
  if (allowed === null) {
    const detail = `no moment before ${new Date(limit).toISOString()} (72 h after the first decision) is allowed`;
    trace.push({ check: "frequency", result: "failed", detail, channel: channel.name });
    return { fate: "suppressed", reason: "frequency_capped", channel: channel.name, trace };
  }
  // Waking inside quiet hours would only defer again: wake when both allow it.
  const quiet = rules.quietHours;
  const zone = chooseTimeZone(ctx.customer.facts.timezone, ctx.strategy.timezone).zone;
  const wake = quiet ? (quietPeriodEnd(quiet, allowed, zone) ?? allowed) : allowed;
  return {
    fate: "deferred",
    reason: "frequency_capped",
    until: new Date(wake),
    channel: channel.name,
    trace,
  };
}
