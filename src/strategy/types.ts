// The compiled strategy: what the engine, the simulator and the reports read. Names are kept as written;
// durations are milliseconds, percentages fractions (5% → 0.05), times of day minutes after local midnight, and
// every condition carries its parsed syntax tree.
import type { ContactKind, Expr } from "../core/condition/index.ts";
import type { QuietHours, RateLimit } from "./values.ts";

export type { QuietHours, RateLimit } from "./values.ts";

export interface Condition {
  source: string;
  ast: Expr;
}

export type GoalTarget =
  | { kind: "conversion_rate"; rate: number }
  | { kind: "revenue_per_customer"; amount: number };

export interface Goal {
  name: string;
  event: string;
  windowMs: number;
  target: GoalTarget;
  where: Condition | null;
}

export type Provider =
  | "smtp"
  | "smpp"
  | "sms_http"
  | "telegram"
  | "webpush"
  | "webhook"
  | "call_center"
  | "sink";
/** The body a channel sends, and the template key that holds it. */
export type ChannelKind = "email" | "sms" | "telegram" | "push" | "webhook" | "call" | "sink";

export interface Channel {
  name: string;
  provider: Provider;
  kind: ChannelKind;
  /** The contact point a customer needs to be reachable on it. */
  contact: ContactKind;
  cost: number;
  capacity: RateLimit | null;
  rate: RateLimit | null;
  /** Provider settings as written (host, from, password_env, …): never secrets themselves. */
  settings: Readonly<Record<string, unknown>>;
}

export interface FrequencyRule {
  max: number;
  perMs: number;
  /** null: every channel. */
  channels: string[] | null;
}

export interface Rules {
  consent: "opt_in" | "opt_out";
  quietHours: QuietHours | null;
  frequency: FrequencyRule[];
  minGapMs: number;
  /** Fraction of customers in the global control group. */
  controlGroup: number;
  /** Channel preference when nothing else decides; defaults to the order the channels are declared in. */
  channelOrder: string[];
}

export interface Stage {
  name: string;
  condition: Condition;
}

export interface Segment {
  name: string;
  condition: Condition;
}

export type Schedule =
  | { kind: "once"; date: string; minuteOfDay: number }
  | {
      kind: "every";
      every:
        | "day"
        | "week"
        | "month"
        | "monday"
        | "tuesday"
        | "wednesday"
        | "thursday"
        | "friday"
        | "saturday"
        | "sunday";
      minuteOfDay: number;
    };

export type Trigger =
  | { kind: "event"; event: string; where: Condition | null }
  | { kind: "segment_entered"; segment: string }
  | { kind: "segment_exited"; segment: string }
  | { kind: "stage_entered"; stage: string }
  | { kind: "stage_left"; stage: string }
  | { kind: "schedule"; schedule: Schedule }
  | { kind: "api" };

export type Via = { kind: "channels"; channels: string[] } | { kind: "best" };

export type WaitFor =
  | { kind: "duration"; ms: number }
  | { kind: "until"; minuteOfDay: number }
  | { kind: "event"; event: string; timeoutMs: number; where: Condition | null };

interface StepBase {
  /** Position in the scenario, stable while the steps before it stay: "2", "3.if0.1", "3.else.0", "4.split1.0". */
  id: string;
}

export type Step = StepBase &
  (
    | { kind: "send"; template: string; via: Via }
    | { kind: "wait"; wait: WaitFor }
    | { kind: "branch"; branches: { if: Condition; steps: Step[] }[]; else: Step[] }
    | { kind: "split"; arms: { fraction: number; steps: Step[] }[] }
    | { kind: "exit_if"; condition: Condition }
    | { kind: "update"; traits: Record<string, string | number | boolean | null> }
    | { kind: "webhook"; url: string; method: "POST" | "PUT"; body: unknown; secretEnv: string | null }
    | { kind: "task"; script: string; channel: string | null }
    | { kind: "survey"; survey: "nps"; via: Via; template: string | null }
  );

export interface Experiment {
  variants: { name: string; template: string }[];
  /** Fraction of the scenario's entrants held back as its control group. */
  control: number;
  /** report: a declared winner is shown; route: new entries outside the control arm go to the winner. */
  winner: "report" | "route";
}

export interface Scenario {
  name: string;
  goal: string;
  kind: "marketing" | "transactional";
  mode: "live" | "pilot";
  /** Fraction sampled in pilot mode; 1 when live. */
  sample: number;
  audience: Condition | null;
  trigger: Trigger;
  priority: number;
  /** null: a customer enters once. */
  reentryMs: number | null;
  exitIf: Condition | null;
  exitOnGoal: boolean;
  onQuietHours: "defer" | "drop";
  onFrequencyCap: "skip" | "defer";
  steps: Step[];
  experiment: Experiment | null;
}

export type TemplateBody =
  | { kind: "email"; subject: string; html: string | null; text: string | null; preheader: string | null }
  | { kind: "sms"; text: string }
  | { kind: "telegram"; text: string; buttons: { text: string; url: string }[] }
  | { kind: "push"; title: string; body: string; url: string | null; icon: string | null }
  | { kind: "webhook"; body: unknown }
  | { kind: "call"; script: string };

export interface Template {
  name: string;
  /** By channel kind (email, sms, …) or by channel name; see `templateBodyFor`. */
  bodies: Readonly<Record<string, TemplateBody>>;
}

export interface Strategy {
  version: 1;
  name: string;
  timezone: string;
  currency: string;
  goals: Readonly<Record<string, Goal>>;
  channels: Readonly<Record<string, Channel>>;
  rules: Rules;
  /** In order: the first stage whose condition holds is the customer's. */
  stages: Stage[];
  segments: Readonly<Record<string, Segment>>;
  scenarios: Readonly<Record<string, Scenario>>;
  templates: Readonly<Record<string, Template>>;
}

/** The body a template has for a channel: one written under the channel's name wins over its kind's. */
export function templateBodyFor(template: Template, channel: Channel): TemplateBody | undefined {
  const own = template.bodies[channel.name] ?? template.bodies[channel.kind];
  // A sink stands in for any channel (tests, dry runs): it takes whatever body the template has.
  return own ?? (channel.kind === "sink" ? Object.values(template.bodies)[0] : undefined);
}
