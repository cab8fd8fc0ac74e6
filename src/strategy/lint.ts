// The strategy lint: warnings about a strategy that is valid but will not do what its author wants — stages no
// scenario serves, audiences and segments empty on current data, channels nobody can be reached on, templates
// a `best` step cannot use everywhere, scenarios that can never fire, and communication pressure beyond the
// frequency rules. Pure: the customer data comes in as facts (or null, and the data checks are skipped).
import type { Diagnostic } from "./diagnostics.ts";
import { alwaysHolds, neverHolds } from "./lint-conditions.ts";
import { servedStages } from "./map-journey.ts";
import { bestCandidates } from "./map-timeline.ts";
import type { Path, StrategySource } from "./positions.ts";
import {
  estimatePressure,
  type PressureFinding,
  type PressureReport,
  type StrategyFacts,
} from "./pressure.ts";
import type { Scenario, Step, Strategy } from "./types.ts";
import { templateBodyFor } from "./types.ts";

export type { StrategyFacts } from "./pressure.ts";

export interface LintOptions {
  /** where the strategy came from, to place each warning at its text */
  source: StrategySource;
  now: Date;
  /** the pressure estimate, when the caller has made it already */
  pressure?: PressureReport;
  /** why there are no facts (the database could not be opened, …), said in the lint_skipped warning */
  skippedReason?: string | undefined;
}

/** The checks that need customer data: skipped when there is none. */
export const DATA_CHECKS = [
  "audience_empty",
  "segment_empty",
  "channel_unreachable",
  "event rates for pressure",
];

type Warn = (path: Path, code: string, message: string, target?: "key" | "value") => void;

export function lintStrategy(
  strategy: Strategy,
  facts: StrategyFacts | null,
  opts: LintOptions,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const warn: Warn = (path, code, message, target = "value") =>
    out.push(opts.source.at(path, "warning", code, message, {}, target));
  if (facts === null) {
    const why = opts.skippedReason ?? "no customer data to check against";
    warn(
      [],
      "lint_skipped",
      `${why}: skipped ${DATA_CHECKS.join(", ")}; they run when the workspace's database can be read`,
    );
  } else if (facts.customers === 0) {
    warn([], "lint_skipped", `the workspace has no customers yet: skipped ${DATA_CHECKS.join(", ")}`);
  }
  const data = facts && facts.customers > 0 ? facts : null;
  lintStages(strategy, warn);
  lintSegments(strategy, data, warn);
  lintChannels(strategy, data, warn);
  for (const sc of Object.values(strategy.scenarios)) {
    lintScenario(strategy, sc, data, opts.now, warn);
    lintBestTemplates(strategy, sc, sc.steps, ["scenarios", sc.name, "steps"], warn);
  }
  const pressure = opts.pressure ?? estimatePressure(strategy, data);
  for (const f of pressure.findings) pressureWarning(strategy, f, warn);
  return out;
}

function lintStages(strategy: Strategy, warn: Warn): void {
  const served = new Set<string>();
  for (const sc of Object.values(strategy.scenarios))
    for (const s of servedStages(strategy, sc) ?? []) served.add(s);
  let catchAll: string | null = null;
  for (const stage of strategy.stages) {
    const path = ["stages", stage.name];
    if (catchAll !== null) {
      warn(
        path,
        "stage_unreachable",
        `stage '${stage.name}' comes after '${catchAll}', which every customer matches, so nobody is ever in it: move it above '${catchAll}'`,
        "key",
      );
    } else if (neverHolds(stage.condition.ast, strategy)) {
      warn(
        path,
        "stage_unreachable",
        `the condition of stage '${stage.name}' can never hold, so nobody is ever in it: correct the condition or remove the stage`,
      );
    }
    if (alwaysHolds(stage.condition.ast) && catchAll === null) catchAll = stage.name;
    if (!served.has(stage.name)) {
      warn(
        path,
        "stage_not_served",
        `no scenario serves stage '${stage.name}': its customers get no communication meant for them; add a scenario with 'trigger: { stage_entered: ${stage.name} }' or an audience "stage == '${stage.name}'"`,
        "key",
      );
    }
  }
}

function lintSegments(strategy: Strategy, facts: StrategyFacts | null, warn: Warn): void {
  for (const seg of Object.values(strategy.segments)) {
    const path = ["segments", seg.name];
    if (neverHolds(seg.condition.ast, strategy)) {
      warn(
        path,
        "segment_never_matches",
        `the condition of segment '${seg.name}' can never hold: correct it or remove the segment`,
      );
    } else if (facts && (facts.segments[seg.name] ?? 0) === 0) {
      warn(
        path,
        "segment_empty",
        `segment '${seg.name}' has no members among ${facts.customers} customers now: check the condition (names of events and traits, thresholds) against your data`,
      );
    }
  }
}

function lintChannels(strategy: Strategy, facts: StrategyFacts | null, warn: Warn): void {
  if (!facts) return;
  for (const ch of Object.values(strategy.channels)) {
    const f = facts.channels[ch.name];
    if (!f || f.reachable > 0) continue;
    const path = ["channels", ch.name];
    if (f.withContact === 0) {
      warn(
        path,
        "channel_unreachable",
        `no customer has the ${ch.contact} contact point channel '${ch.name}' needs: collect it (sign-up form, identify traits) or drop the channel from the steps`,
        "key",
      );
    } else {
      const why =
        strategy.rules.consent === "opt_in"
          ? `${f.withContact} customers have the ${ch.contact} contact point but none has opted in (rules.consent is opt_in)`
          : `all ${f.withContact} customers with the ${ch.contact} contact point have unsubscribed`;
      warn(
        path,
        "channel_unreachable",
        `nobody can be reached on channel '${ch.name}': ${why}; collect consent (a confirmation scenario, consent traits) before sending on it`,
        "key",
      );
    }
  }
}

/** A schedule of one date is over when that local time has passed even in the last time zone (UTC−12). */
function scheduleIsPast(date: string, minuteOfDay: number, now: Date): boolean {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: "Etc/GMT+12",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(now);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "00";
  const local = `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}`;
  const hh = String(Math.floor(minuteOfDay / 60)).padStart(2, "0");
  const mm = String(minuteOfDay % 60).padStart(2, "0");
  return `${date} ${hh}:${mm}` < local;
}

function lintScenario(
  strategy: Strategy,
  sc: Scenario,
  facts: StrategyFacts | null,
  now: Date,
  warn: Warn,
): void {
  const base = ["scenarios", sc.name];
  const t = sc.trigger;
  const served = servedStages(strategy, sc);
  if (sc.audience && neverHolds(sc.audience.ast, strategy)) {
    warn(
      [...base, "audience"],
      "scenario_never_fires",
      `the audience of '${sc.name}' can never hold (a constant false or contradictory comparisons), so nobody enters: correct the condition`,
    );
    return;
  }
  if (served !== null && served.length === 0) {
    warn(
      [...base, "audience"],
      "scenario_never_fires",
      `the audience of '${sc.name}' admits no stage its trigger allows, so nobody enters: make the trigger and the audience name the same stage`,
    );
    return;
  }
  if (
    t.kind === "schedule" &&
    t.schedule.kind === "once" &&
    scheduleIsPast(t.schedule.date, t.schedule.minuteOfDay, now)
  ) {
    warn(
      [...base, "trigger"],
      "scenario_never_fires",
      `'${sc.name}' is scheduled for ${t.schedule.date}, which has passed: set a future date or remove the scenario`,
    );
    return;
  }
  const stage = t.kind === "stage_entered" ? strategy.stages.find((s) => s.name === t.stage) : undefined;
  if (stage && neverHolds(stage.condition.ast, strategy)) {
    warn(
      [...base, "trigger"],
      "scenario_never_fires",
      `'${sc.name}' starts when a customer enters stage '${stage.name}', whose condition can never hold: correct the stage`,
    );
    return;
  }
  const segment = t.kind === "segment_entered" ? strategy.segments[t.segment] : undefined;
  if (segment && neverHolds(segment.condition.ast, strategy)) {
    warn(
      [...base, "trigger"],
      "scenario_never_fires",
      `'${sc.name}' starts when a customer enters segment '${segment.name}', whose condition can never hold: correct the segment`,
    );
    return;
  }
  const f = facts?.scenarios[sc.name];
  if (facts && f && f.audience === 0) {
    const where = sc.audience ? [...base, "audience"] : [...base, "trigger"];
    warn(
      where,
      "audience_empty",
      `nobody among ${facts.customers} customers is in the audience of '${sc.name}' now (audience and the state its trigger implies): check the condition against your data, or widen it`,
    );
  }
}

/** `best` may choose any messaging channel: a template without a body for one loses the customers who prefer it. */
function lintBestTemplates(
  strategy: Strategy,
  sc: Scenario,
  steps: readonly Step[],
  path: Path,
  warn: Warn,
): void {
  steps.forEach((step, i) => {
    const here = [...path, i];
    if (step.kind === "branch") {
      for (const [j, b] of step.branches.entries()) {
        lintBestTemplates(strategy, sc, b.steps, [...here, "branch", j, "steps"], warn);
      }
      lintBestTemplates(strategy, sc, step.else, [...here, "else"], warn);
    }
    if (step.kind === "split") {
      for (const [j, a] of step.arms.entries()) {
        lintBestTemplates(strategy, sc, a.steps, [...here, "split", j, "steps"], warn);
      }
    }
    if ((step.kind !== "send" && step.kind !== "survey") || step.via.kind !== "best") return;
    const name = step.template;
    const template = name === null ? undefined : strategy.templates[name];
    if (!template) return;
    const usable = new Set(bestCandidates(strategy, name));
    const missing = Object.values(strategy.channels)
      .filter(
        (c) =>
          ["email", "sms", "telegram", "push"].includes(c.kind) &&
          !usable.has(c.name) &&
          templateBodyFor(template, c) === undefined,
      )
      .map((c) => c.name);
    if (missing.length === 0) return;
    warn(
      [...here, step.kind === "send" ? "send" : "template"],
      "template_missing_for_best",
      `'via: best' may choose ${missing.join(", ")}, but template '${name}' has no body for ${missing.length === 1 ? "it" : "them"}: customers who prefer ${missing.length === 1 ? "that channel" : "those channels"} get it elsewhere or not at all; add templates.${name}.${strategy.channels[missing[0] ?? ""]?.kind ?? "email"} or list the channels in 'via'`,
    );
  });
}

function stepPath(scenario: string, stepId: string): Path {
  const path: (string | number)[] = ["scenarios", scenario, "steps"];
  for (const part of stepId.split(".")) {
    const branch = /^if(\d+)$/.exec(part);
    const split = /^split(\d+)$/.exec(part);
    if (branch) path.push("branch", Number(branch[1]), "steps");
    else if (split) path.push("split", Number(split[1]), "steps");
    else if (part === "else") path.push("else");
    else path.push(Number(part));
  }
  return path;
}

export function formatWindow(ms: number): string {
  const d = ms / 86_400_000;
  if (d >= 1 && Number.isInteger(d)) return `${d}d`;
  const h = ms / 3_600_000;
  return Number.isInteger(h) ? `${h}h` : `${Math.round(ms / 60_000)}m`;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

function pressureWarning(strategy: Strategy, f: PressureFinding, warn: Warn): void {
  if (f.kind === "min_gap") {
    const gap = formatWindow(strategy.rules.minGapMs);
    warn(
      [...stepPath(f.scenario, f.stepId), "send"],
      "pressure_min_gap",
      `this message follows the previous one of '${f.scenario}' after ${f.gapMs === 0 ? "no wait" : formatWindow(f.gapMs)}, less than rules.min_gap (${gap}), so it would be capped: add '- wait: ${gap}' before it or merge the two messages`,
    );
    return;
  }
  const rule = strategy.rules.frequency[f.rule];
  if (!rule) return;
  const scope =
    rule.channels === null ? "messages on all channels" : `messages on ${rule.channels.join(", ")}`;
  const cap = `max ${rule.max} per ${formatWindow(rule.perMs)}`;
  if (f.kind === "scenario_over_cap") {
    const wasted = round1(f.expected - f.max);
    warn(
      ["scenarios", f.scenario, "steps"],
      "pressure_over_cap",
      `'${f.scenario}' alone sends a customer about ${round1(f.expected)} ${scope} within ${formatWindow(rule.perMs)}, but the rule allows ${cap}: about ${wasted} would be capped (wasted); space the sends with waits, raise 'reentry', move a send to another channel, or raise the cap`,
      "key",
    );
    return;
  }
  const top = f.contributors
    .slice(0, 3)
    .map((c) => `${c.scenario} ${round1(c.messages)}`)
    .join(", ");
  const who = f.stage === null ? "a customer" : `a customer of stage '${f.stage}'`;
  warn(
    ["rules", "frequency", f.rule],
    "pressure_combined",
    `${who} can expect about ${round1(f.expected)} ${scope} within ${formatWindow(rule.perMs)} from all scenarios together, over the rule's ${cap} (most from ${top}): lower the priority or raise the reentry of the smaller contributors, move a send to another channel, or raise the cap`,
  );
}
