// The timeline of one scenario as the map draws it and the pressure model counts it: each send step with its
// time after entry, the chance a customer who enters reaches it, and the channel it would most likely go out on.
import type { Scenario, Step, Strategy, Via } from "./types.ts";
import { templateBodyFor } from "./types.ts";

const HOUR = 3_600_000;

/** What channel choice needs to know of the customer base: how many customers each channel reaches. */
export interface ReachFacts {
  customers: number;
  channels: Readonly<Record<string, { reachable: number }>>;
}

export interface PlannedSend {
  stepId: string;
  template: string;
  /** milliseconds after entry */
  atMs: number;
  /** chance that a customer who enters reaches this step (branches and splits divide it) */
  weight: number;
  /** the share of this step's messages expected on each channel; sums to 1 */
  channels: Readonly<Record<string, number>>;
  /** the previous send on the same path, for the minimum-gap check */
  previousAtMs: number | null;
}

export interface ScenarioPlan {
  sends: PlannedSend[];
  /** time from entry to the last step */
  durationMs: number;
}

/** Channels a message may go out on: the kinds that carry a marketing message to a person. */
const MESSAGE_KINDS = new Set(["email", "sms", "telegram", "push"]);

export function planScenario(strategy: Strategy, scenario: Scenario, facts: ReachFacts | null): ScenarioPlan {
  const sends: PlannedSend[] = [];
  const end = planSteps(strategy, scenario.steps, { atMs: 0, weight: 1, previousAtMs: null }, facts, sends);
  return { sends, durationMs: end.atMs };
}

interface Cursor {
  atMs: number;
  weight: number;
  previousAtMs: number | null;
}

function planSteps(
  strategy: Strategy,
  steps: readonly Step[],
  start: Cursor,
  facts: ReachFacts | null,
  out: PlannedSend[],
): Cursor {
  let cur = start;
  for (const step of steps) cur = planStep(strategy, step, cur, facts, out);
  return cur;
}

function planStep(
  strategy: Strategy,
  step: Step,
  cur: Cursor,
  facts: ReachFacts | null,
  out: PlannedSend[],
): Cursor {
  const send = (template: string, channels: Record<string, number>): Cursor => {
    out.push({
      stepId: step.id,
      template,
      atMs: cur.atMs,
      weight: cur.weight,
      channels,
      previousAtMs: cur.previousAtMs,
    });
    return { ...cur, previousAtMs: cur.atMs };
  };
  switch (step.kind) {
    case "send":
      return send(step.template, channelShares(strategy, step.via, step.template, facts));
    case "survey":
      return send(step.template ?? "nps", channelShares(strategy, step.via, step.template, facts));
    case "task": {
      const channel = step.channel ?? Object.values(strategy.channels).find((c) => c.kind === "call")?.name;
      return channel ? send(`task: ${step.script}`, { [channel]: 1 }) : cur;
    }
    case "wait": {
      const w = step.wait;
      // Until a time of day: half a day on average; until an event: most customers wait for the whole timeout.
      const ms = w.kind === "duration" ? w.ms : w.kind === "until" ? 12 * HOUR : w.timeoutMs;
      return { ...cur, atMs: cur.atMs + ms };
    }
    case "branch": {
      const arms = [...step.branches.map((b) => b.steps), step.else];
      return joinArms(
        arms.map((steps) => ({ steps, fraction: 1 / arms.length })),
        strategy,
        cur,
        facts,
        out,
      );
    }
    case "split":
      return joinArms(step.arms, strategy, cur, facts, out);
    default:
      return cur;
  }
}

/** Each arm goes on from the same moment; the scenario goes on after the longest arm. */
function joinArms(
  arms: readonly { steps: readonly Step[]; fraction: number }[],
  strategy: Strategy,
  cur: Cursor,
  facts: ReachFacts | null,
  out: PlannedSend[],
): Cursor {
  let end = cur;
  for (const arm of arms) {
    const r = planSteps(strategy, arm.steps, { ...cur, weight: cur.weight * arm.fraction }, facts, out);
    if (r.atMs > end.atMs || end === cur) end = { ...r, weight: cur.weight };
  }
  return end;
}

/** The channels of the strategy a `best` step may choose: those the template has a message body for. */
export function bestCandidates(strategy: Strategy, template: string | null): string[] {
  const t = template === null ? undefined : strategy.templates[template];
  const channels = Object.values(strategy.channels);
  const withBody = channels.filter((c) => (t ? templateBodyFor(t, c) !== undefined : true));
  const messaging = withBody.filter((c) => MESSAGE_KINDS.has(c.kind));
  return (messaging.length > 0 ? messaging : withBody).map((c) => c.name);
}

/** Channels in the strategy's channel order; channels it does not list keep their written order, after it. */
export function byChannelOrder(strategy: Strategy, channels: readonly string[]): string[] {
  const order = strategy.rules.channelOrder;
  const rank = (c: string) => (order.includes(c) ? order.indexOf(c) : order.length + channels.indexOf(c));
  return [...channels].sort((a, b) => rank(a) - rank(b));
}

/**
 * Where a step's messages go. `best` spreads them evenly (engagement decides per customer, and no history is
 * assumed). A list goes to the first channel in channel order; with customer data, a customer who cannot be
 * reached on it falls to the next (reachability on different channels taken as independent).
 */
export function channelShares(
  strategy: Strategy,
  via: Via,
  template: string | null,
  facts: ReachFacts | null,
): Record<string, number> {
  if (via.kind === "best") {
    const candidates = byChannelOrder(strategy, bestCandidates(strategy, template));
    return Object.fromEntries(candidates.map((c) => [c, 1 / candidates.length]));
  }
  const ordered = byChannelOrder(strategy, via.channels);
  const first = ordered[0];
  if (first === undefined) return {};
  if (!facts || facts.customers === 0) return { [first]: 1 };
  const shares: Record<string, number> = {};
  let left = 1;
  for (const c of ordered) {
    const reach = (facts.channels[c]?.reachable ?? 0) / facts.customers;
    shares[c] = left * reach;
    left *= 1 - reach;
  }
  const total = 1 - left;
  if (total <= 0) return { [first]: 1 };
  // Audiences are mostly reachable people: the share nobody can reach is spread over the channels in proportion.
  for (const c of ordered) shares[c] = (shares[c] ?? 0) / total;
  return shares;
}
