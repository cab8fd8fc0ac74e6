// Communication pressure: how many marketing messages a customer can expect per week, by channel, from all the
// scenarios together, and where that load runs into the frequency rules and the minimum gap (a capped message is
// planned, rendered, and then wasted). The model and its assumptions are written up in docs/lint-and-map.md.
import { servedStages } from "./map-journey.ts";
import { planScenario, type ScenarioPlan } from "./map-timeline.ts";
import type { Scenario, Schedule, Strategy } from "./types.ts";

const DAY = 86_400_000;
const WEEK = 7 * DAY;
/** Messages under this many per window are rounding, not a finding. */
const TOLERANCE = 0.05;

/** The span of history rates are measured over. */
export const FACTS_WINDOW_DAYS = 28;

export interface ChannelFacts {
  /** customers with the contact point the channel needs */
  withContact: number;
  /** … and consent `opted_in` on the channel */
  optedIn: number;
  /** … and allowed under the strategy's consent mode (opt_in: opted in; opt_out: not unsubscribed) */
  reachable: number;
}

export interface ScenarioFacts {
  /** customers in the audience now: the audience condition and the stage or segment the trigger implies */
  audience: number;
  /** the audience by the customers' stage now */
  audienceByStage: Readonly<Record<string, number>>;
  /** trigger firings over the last 28 days by customers now in the audience, at most as many per customer as
   * re-entry allows; null when the data cannot tell (schedules, API triggers) */
  entries: number | null;
  /** distinct customers behind `entries` */
  entrants: number | null;
}

/** What the customer data says about a strategy, at one moment: the lint's and the map's inputs. */
export interface StrategyFacts {
  /** ISO time the facts describe */
  at: string;
  windowDays: number;
  customers: number;
  /** customers per stage, by the strategy's stage conditions evaluated now (not stored memberships) */
  stages: Readonly<Record<string, number>>;
  segments: Readonly<Record<string, number>>;
  scenarios: Readonly<Record<string, ScenarioFacts>>;
  channels: Readonly<Record<string, ChannelFacts>>;
}

export interface ScenarioPressure {
  scenario: string;
  /** transactional scenarios do not count toward caps (SPEC §5) */
  counted: boolean;
  plan: ScenarioPlan;
  /** expected messages per entry, by channel */
  perEntry: Readonly<Record<string, number>>;
  /** how often a customer who enters enters again, per week (recurring schedules, repeated trigger events) */
  recipientEntriesPerWeek: number;
  /** entries per week per customer of the audience, after control groups and pilot sampling; null unknown */
  memberEntriesPerWeek: number | null;
  /** a one-off send to the whole audience at once (a dated schedule, or a recurring one without re-entry) */
  oneOff: boolean;
  /** when a dated one-off runs (epoch ms of its local date and time read as UTC); null otherwise */
  oneOffAtMs: number | null;
  /** expected messages per customer of the whole base per week, by channel (steady state; 0 for one-offs) */
  perCustomerWeek: Readonly<Record<string, number>>;
}

export interface Contributor {
  scenario: string;
  messages: number;
}

export type PressureFinding =
  | {
      kind: "scenario_over_cap";
      scenario: string;
      rule: number;
      expected: number;
      max: number;
    }
  | {
      kind: "combined_over_cap";
      rule: number;
      /** the stage whose customers carry the load; null when the strategy has no stages */
      stage: string | null;
      expected: number;
      max: number;
      contributors: Contributor[];
    }
  | { kind: "min_gap"; scenario: string; stepId: string; gapMs: number };

export interface PressureReport {
  /** whether rates come from customer data ("data") or from the document alone ("document") */
  basis: "data" | "document";
  /** expected marketing messages per customer per week, by channel, over the whole base, in the steady state
   * (one-off campaigns are not in it: they count in the cap checks, for the week they run) */
  byChannel: Readonly<Record<string, number>>;
  /** the same for a customer of each stage */
  byStage: Readonly<Record<string, Readonly<Record<string, number>>>>;
  scenarios: Readonly<Record<string, ScenarioPressure>>;
  findings: PressureFinding[];
  /** scenarios whose entry rate is unknown, so they count only with their own timeline */
  unknownRates: string[];
}

function schedulePeriodMs(s: Schedule): number | null {
  if (s.kind === "once") return null;
  return s.every === "day" ? DAY : s.every === "month" ? 30.44 * DAY : WEEK;
}

/** Share of those a scenario picks who actually get its messages: global and own control groups, pilot sample. */
function treatedShare(strategy: Strategy, sc: Scenario): number {
  const pilot = sc.mode === "pilot" ? sc.sample : 1;
  return (1 - strategy.rules.controlGroup) * (1 - (sc.experiment?.control ?? 0)) * pilot;
}

function sumChannels(plan: ScenarioPlan): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of plan.sends) {
    for (const [c, share] of Object.entries(s.channels)) out[c] = (out[c] ?? 0) + s.weight * share;
  }
  return out;
}

function scenarioPressure(strategy: Strategy, sc: Scenario, facts: StrategyFacts | null): ScenarioPressure {
  const plan = planScenario(strategy, sc, facts);
  const perEntry = sumChannels(plan);
  const t = sc.trigger;
  // One customer is in a scenario once at a time: it cannot start again before its timeline ends.
  const floorMs = Math.max(sc.reentryMs ?? 0, plan.durationMs);
  let recipient = 0;
  let member: number | null = null;
  let oneOff = false;
  let oneOffAtMs: number | null = null;
  if (t.kind === "schedule") {
    const period = schedulePeriodMs(t.schedule);
    if (period === null || sc.reentryMs === null) oneOff = true;
    else recipient = WEEK / Math.max(period, floorMs);
    if (t.schedule.kind === "once") {
      const m = t.schedule.minuteOfDay;
      const hhmm = `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
      oneOffAtMs = Date.parse(`${t.schedule.date}T${hhmm}:00Z`);
    }
    member = recipient;
  } else if (facts && t.kind !== "api") {
    const f = facts.scenarios[sc.name];
    const weeks = facts.windowDays / 7;
    if (f && f.entries !== null && f.audience > 0) member = f.entries / weeks / f.audience;
    else if (f) member = 0;
    if (f && sc.reentryMs !== null && f.entries !== null && f.entrants) {
      recipient = Math.min(f.entries / f.entrants / weeks, WEEK / Math.max(floorMs, 1));
    }
  }
  const treated = treatedShare(strategy, sc);
  if (member !== null) member *= treated;
  const perCustomerWeek: Record<string, number> = {};
  const audienceShare = facts ? (facts.scenarios[sc.name]?.audience ?? 0) / Math.max(facts.customers, 1) : 1;
  for (const [c, n] of Object.entries(perEntry)) {
    perCustomerWeek[c] = oneOff ? 0 : n * (member ?? 0) * audienceShare;
  }
  return {
    scenario: sc.name,
    counted: sc.kind !== "transactional",
    plan,
    perEntry,
    recipientEntriesPerWeek: recipient,
    memberEntriesPerWeek: member,
    oneOff,
    oneOffAtMs,
    perCustomerWeek,
  };
}

/** The most messages (expected) of one entry that fall inside any window of the given length, on the channels. */
export function burstInWindow(
  plan: ScenarioPlan,
  windowMs: number,
  channels: ReadonlySet<string> | null,
): number {
  const count = (s: ScenarioPlan["sends"][number]) =>
    s.weight *
    Object.entries(s.channels).reduce(
      (n, [c, share]) => n + (channels === null || channels.has(c) ? share : 0),
      0,
    );
  let best = 0;
  for (const a of plan.sends) {
    const inside = plan.sends.filter((b) => b.atMs >= a.atMs && b.atMs < a.atMs + windowMs);
    best = Math.max(
      best,
      inside.reduce((n, b) => n + count(b), 0),
    );
  }
  return best;
}

function sendsOn(sp: ScenarioPressure, channels: ReadonlySet<string> | null): number {
  return Object.entries(sp.perEntry).reduce(
    (n, [c, v]) => n + (channels === null || channels.has(c) ? v : 0),
    0,
  );
}

/** Messages inside one window for a customer who has just entered the scenario. */
function recipientLoad(sp: ScenarioPressure, windowMs: number, channels: ReadonlySet<string> | null): number {
  const recurring = sp.recipientEntriesPerWeek * sendsOn(sp, channels) * (windowMs / WEEK);
  return Math.max(burstInWindow(sp.plan, windowMs, channels), recurring);
}

/** Messages inside one window for an average member of the scenario's audience. */
function memberLoad(
  sp: ScenarioPressure,
  windowMs: number,
  channels: ReadonlySet<string> | null,
  treated: number,
): number {
  if (sp.oneOff) return burstInWindow(sp.plan, windowMs, channels) * treated;
  return (sp.memberEntriesPerWeek ?? 0) * sendsOn(sp, channels) * (windowMs / WEEK);
}

interface Group {
  stage: string | null;
  /** share of the group's customers in each scenario's audience */
  share: (scenario: string) => number;
}

function groups(strategy: Strategy, facts: StrategyFacts | null): Group[] {
  const served = new Map(Object.values(strategy.scenarios).map((s) => [s.name, servedStages(strategy, s)]));
  if (strategy.stages.length === 0) {
    return [
      {
        stage: null,
        share: (s) => (facts ? (facts.scenarios[s]?.audience ?? 0) / Math.max(facts.customers, 1) : 1),
      },
    ];
  }
  return strategy.stages.map(({ name }) => ({
    stage: name,
    share: (s: string) => {
      if (facts) {
        const members = facts.stages[name] ?? 0;
        return members > 0 ? Math.min(1, (facts.scenarios[s]?.audienceByStage[name] ?? 0) / members) : 0;
      }
      const stages = served.get(s);
      return stages === null || stages === undefined || stages.includes(name) ? 1 : 0;
    },
  }));
}

export function estimatePressure(strategy: Strategy, facts: StrategyFacts | null): PressureReport {
  const all = Object.values(strategy.scenarios).map((sc) => scenarioPressure(strategy, sc, facts));
  const scenarios = Object.fromEntries(all.map((p) => [p.scenario, p]));
  const counted = all.filter((p) => p.counted);
  const treated = new Map(Object.values(strategy.scenarios).map((s) => [s.name, treatedShare(strategy, s)]));
  const byChannel: Record<string, number> = {};
  for (const p of counted) {
    for (const [c, n] of Object.entries(p.perCustomerWeek)) byChannel[c] = (byChannel[c] ?? 0) + n;
  }
  const byStage: Record<string, Record<string, number>> = {};
  const gs = groups(strategy, facts);
  for (const g of gs) {
    const load: Record<string, number> = {};
    for (const p of counted) {
      for (const c of Object.keys(p.perEntry)) {
        const n = p.oneOff ? 0 : g.share(p.scenario) * memberLoad(p, WEEK, new Set([c]), 1);
        load[c] = (load[c] ?? 0) + n;
      }
    }
    byStage[g.stage ?? "all"] = load;
  }
  const findings = [...capFindings(strategy, counted, gs, treated), ...minGapFindings(strategy, counted)];
  const unknownRates = counted
    .filter((p) => !p.oneOff && p.memberEntriesPerWeek === null)
    .map((p) => p.scenario);
  return { basis: facts ? "data" : "document", byChannel, byStage, scenarios, findings, unknownRates };
}

function capFindings(
  strategy: Strategy,
  counted: ScenarioPressure[],
  gs: Group[],
  treated: ReadonlyMap<string, number>,
): PressureFinding[] {
  const out: PressureFinding[] = [];
  strategy.rules.frequency.forEach((rule, index) => {
    const channels = rule.channels === null ? null : new Set(rule.channels);
    const alone = new Set<string>();
    for (const p of counted) {
      const own = recipientLoad(p, rule.perMs, channels);
      if (own > rule.max + TOLERANCE) {
        alone.add(p.scenario);
        out.push({
          kind: "scenario_over_cap",
          scenario: p.scenario,
          rule: index,
          expected: own,
          max: rule.max,
        });
      }
    }
    for (const g of gs) {
      let worst: { expected: number; contributors: Contributor[] } | null = null;
      for (const entering of counted) {
        if (g.share(entering.scenario) <= 0 || alone.has(entering.scenario)) continue;
        // A scenario over the cap on its own has its own finding; here it would only repeat it.
        const contributors = counted
          .filter((p) => !alone.has(p.scenario) && coincide(entering, p, rule.perMs))
          .map((p) => ({
            scenario: p.scenario,
            messages:
              p === entering
                ? recipientLoad(p, rule.perMs, channels)
                : g.share(p.scenario) * memberLoad(p, rule.perMs, channels, treated.get(p.scenario) ?? 1),
          }));
        const expected = contributors.reduce((n, c) => n + c.messages, 0);
        if (expected > rule.max + TOLERANCE && (worst === null || expected > worst.expected)) {
          worst = {
            expected,
            contributors: contributors
              .filter((c) => c.messages > 0.005)
              .sort((a, b) => b.messages - a.messages),
          };
        }
      }
      if (worst)
        out.push({ kind: "combined_over_cap", rule: index, stage: g.stage, max: rule.max, ...worst });
    }
  });
  return out;
}

/**
 * Whether `other` adds to the load of a customer entering `entering` within one window. Scenarios that run all
 * the time always do. A one-off campaign hits a given window of a recurring scenario only by rare chance, so it
 * counts only against another one-off that runs close enough to it (dated ones by their dates; undated ones, the
 * first run of a recurring schedule without re-entry, are taken to run together).
 */
function coincide(entering: ScenarioPressure, other: ScenarioPressure, windowMs: number): boolean {
  if (entering === other || !other.oneOff) return true;
  if (!entering.oneOff) return false;
  const a = entering.oneOffAtMs;
  const b = other.oneOffAtMs;
  if (a === null || b === null) return a === b;
  const reach = windowMs + Math.max(entering.plan.durationMs, other.plan.durationMs);
  return Math.abs(a - b) < reach;
}

function minGapFindings(strategy: Strategy, counted: ScenarioPressure[]): PressureFinding[] {
  const gap = strategy.rules.minGapMs;
  if (gap <= 0) return [];
  const out: PressureFinding[] = [];
  for (const p of counted) {
    for (const s of p.plan.sends) {
      if (s.previousAtMs !== null && s.atMs - s.previousAtMs < gap) {
        out.push({ kind: "min_gap", scenario: p.scenario, stepId: s.stepId, gapMs: s.atMs - s.previousAtMs });
      }
    }
  }
  return out;
}
