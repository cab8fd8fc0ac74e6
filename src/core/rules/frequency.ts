// Frequency rules and the minimum gap (SPEC §5 rule 6) over rolling windows. Only marketing messages actually
// sent count. Two sends fall into one window of length L when they are less than L apart, so a send at `t` is
// allowed when, for every rule whose channels include its channel, fewer than `max` counted sends lie within
// L of `t` (either side: a send already scheduled later counts too), and no counted send lies within the gap.
import type { FrequencyRuleInput, RulesInput, SentMessage } from "./types.ts";

export const MAX_FREQUENCY_DEFERRAL_MS = 72 * 3_600_000;

export type Blocker =
  | { kind: "rule"; rule: FrequencyRuleInput; index: number; count: number }
  | { kind: "min_gap"; gapMs: number; nearest: number };

export function ruleApplies(rule: FrequencyRuleInput, channel: string): boolean {
  return rule.channels === null || rule.channels.includes(channel);
}

/** Instants of the counted sends, ascending. */
export function countedSends(history: readonly SentMessage[]): number[] {
  return history
    .filter((m) => m.kind === "marketing")
    .map((m) => m.at.getTime())
    .sort((a, b) => a - b);
}

function countedOn(history: readonly SentMessage[], rule: FrequencyRuleInput): number[] {
  return countedSends(history.filter((m) => ruleApplies(rule, m.channel)));
}

function within(times: readonly number[], at: number, spanMs: number): number {
  let n = 0;
  for (const t of times) if (Math.abs(at - t) < spanMs) n++;
  return n;
}

/** Every rule and the gap that would be broken by a send on `channel` at `at`; empty when it may go. */
export function blockersAt(
  rules: RulesInput,
  history: readonly SentMessage[],
  channel: string,
  at: number,
): Blocker[] {
  const blockers: Blocker[] = [];
  rules.frequency.forEach((rule, index) => {
    if (!ruleApplies(rule, channel)) return;
    const count = within(countedOn(history, rule), at, rule.perMs);
    if (count >= rule.max) blockers.push({ kind: "rule", rule, index, count });
  });
  if (rules.minGapMs > 0) {
    const all = countedSends(history);
    const near = all.filter((t) => Math.abs(at - t) < rules.minGapMs);
    const nearest = near[near.length - 1];
    if (nearest !== undefined) blockers.push({ kind: "min_gap", gapMs: rules.minGapMs, nearest });
  }
  return blockers;
}

/**
 * The earliest instant at or after `from` at which every rule and the gap allow a send on `channel`, or null
 * when none comes before `limit`. A window can only open when `from` arrives or a counted send leaves a window
 * (`t + L`), so those instants are the only candidates; the first that is allowed is the answer.
 */
export function earliestAllowed(
  rules: RulesInput,
  history: readonly SentMessage[],
  channel: string,
  from: number,
  limit: number,
): number | null {
  const candidates = new Set<number>([from]);
  const spans = rules.frequency.filter((r) => ruleApplies(r, channel)).map((r) => r.perMs);
  if (rules.minGapMs > 0) spans.push(rules.minGapMs);
  for (const t of countedSends(history)) {
    for (const span of spans) {
      const c = t + span;
      if (c > from && c <= limit) candidates.add(c);
    }
  }
  for (const c of [...candidates].sort((a, b) => a - b)) {
    if (c > limit) break;
    if (blockersAt(rules, history, channel, c).length === 0) return c;
  }
  return null;
}

export function describeBlocker(b: Blocker): string {
  if (b.kind === "min_gap") {
    return `minimum gap ${formatSpan(b.gapMs)}: a message was sent ${new Date(b.nearest).toISOString()}`;
  }
  const scope = b.rule.channels === null ? "all channels" : b.rule.channels.join(", ");
  return `rule ${b.index + 1} (max ${b.rule.max} per ${formatSpan(b.rule.perMs)} on ${scope}): ${b.count} already sent`;
}

export function formatSpan(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "m"],
    [1000, "s"],
  ];
  for (const [size, unit] of units) if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
