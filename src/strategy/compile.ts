// Turns a document that passed every check into the typed `Strategy`: durations to milliseconds, percentages to
// fractions, times to minutes, conditions to their syntax trees, stages into their order, defaults filled in.
import { contactOf, PROVIDER_KIND } from "./channel-kinds.ts";
import type { Path } from "./positions.ts";
import { pathKey } from "./references.ts";
import type { RawDocument, RawScenario, RawStep, RawTrigger, RawVia } from "./schema.ts";
import type {
  Channel,
  Condition,
  Goal,
  Rules,
  Scenario,
  Schedule,
  Step,
  Strategy,
  Template,
  TemplateBody,
  Trigger,
  Via,
  WaitFor,
} from "./types.ts";
import {
  type Parsed,
  parseDuration,
  parsePercent,
  parseQuietHours,
  parseRate,
  parseTimeOfDay,
} from "./values.ts";

type Conditions = ReadonlyMap<string, Condition>;

function must<T>(r: Parsed<T>): T {
  if (!r.ok) throw new Error(`compiling a value that was not checked: ${r.message}`);
  return r.value;
}

const ms = (s: string, allowZero = false) => must(parseDuration(s, allowZero));
const fraction = (s: string) => must(parsePercent(s));

function cond(conditions: Conditions, path: Path): Condition {
  const c = conditions.get(pathKey(path));
  if (!c) throw new Error(`no checked condition at ${path.join(".")}`);
  return c;
}

function optCond(conditions: Conditions, path: Path, value: unknown): Condition | null {
  return value === undefined ? null : cond(conditions, path);
}

export function compileStrategy(doc: RawDocument, conditions: Conditions): Strategy {
  const channels: Record<string, Channel> = {};
  for (const [name, c] of Object.entries(doc.channels ?? {})) {
    const { provider, cost, capacity, rate, description: _d, ...settings } = c;
    channels[name] = {
      name,
      provider,
      kind: PROVIDER_KIND[provider],
      contact: contactOf(provider, "contact" in settings ? settings.contact : undefined),
      cost: cost ?? 0,
      capacity: capacity === undefined ? null : must(parseRate(capacity)),
      rate: rate === undefined ? null : must(parseRate(rate)),
      settings,
    };
  }
  const goals: Record<string, Goal> = {};
  for (const [name, g] of Object.entries(doc.goals ?? {})) {
    goals[name] = {
      name,
      event: g.event,
      windowMs: ms(g.window),
      target:
        typeof g.target === "number"
          ? { kind: "revenue_per_customer", amount: g.target }
          : { kind: "conversion_rate", rate: fraction(g.target) },
      where: optCond(conditions, ["goals", name, "where"], g.where),
    };
  }
  const r = doc.rules ?? {};
  const rules: Rules = {
    consent: r.consent ?? "opt_in",
    quietHours: r.quiet_hours === undefined ? null : must(parseQuietHours(r.quiet_hours)),
    frequency: (r.frequency ?? []).map((f) => ({
      max: f.max,
      perMs: ms(f.per),
      channels: f.channels ?? null,
    })),
    minGapMs: r.min_gap === undefined ? 0 : ms(r.min_gap, true),
    controlGroup: r.control_group === undefined ? 0.05 : fraction(r.control_group),
    channelOrder: r.channel_order ?? Object.keys(channels),
  };
  const named = (section: "stages" | "segments") =>
    Object.keys(doc[section] ?? {}).map((name) => ({ name, condition: cond(conditions, [section, name]) }));
  const scenarios: Record<string, Scenario> = {};
  for (const [name, s] of Object.entries(doc.scenarios ?? {}))
    scenarios[name] = scenario(name, s, conditions);
  const templates: Record<string, Template> = {};
  for (const [name, t] of Object.entries(doc.templates ?? {})) templates[name] = template(name, t, channels);
  return {
    version: 1,
    name: doc.name,
    timezone: doc.timezone === undefined ? "UTC" : canonical(doc.timezone),
    currency: doc.currency,
    goals,
    channels,
    rules,
    stages: named("stages"),
    segments: Object.fromEntries(named("segments").map((s) => [s.name, s])),
    scenarios,
    templates,
  };
}

function canonical(tz: string): string {
  return new Intl.DateTimeFormat("en", { timeZone: tz }).resolvedOptions().timeZone;
}

function scenario(name: string, s: RawScenario, conditions: Conditions): Scenario {
  const base = ["scenarios", name];
  const mode = s.mode ?? "live";
  return {
    name,
    goal: s.goal,
    kind: s.kind ?? "marketing",
    mode,
    sample: mode === "pilot" && s.sample !== undefined ? fraction(s.sample) : 1,
    audience: optCond(conditions, [...base, "audience"], s.audience),
    trigger: trigger(s.trigger, [...base, "trigger"], conditions),
    priority: s.priority ?? 50,
    reentryMs: s.reentry === undefined ? null : ms(s.reentry),
    exitIf: optCond(conditions, [...base, "exit_if"], s.exit_if),
    exitOnGoal: s.exit_on_goal ?? true,
    onQuietHours: s.on_quiet_hours ?? "defer",
    onFrequencyCap: s.on_frequency_cap ?? "skip",
    steps: steps(s.steps, [...base, "steps"], "", conditions),
    experiment: s.experiment
      ? {
          variants: Object.entries(s.experiment.variants).map(([v, t]) => ({ name: v, template: t })),
          control: s.experiment.control === undefined ? 0 : fraction(s.experiment.control),
          winner: s.experiment.winner ?? "report",
        }
      : null,
  };
}

function trigger(t: RawTrigger, path: Path, conditions: Conditions): Trigger {
  if ("event" in t)
    return { kind: "event", event: t.event, where: optCond(conditions, [...path, "where"], t.where) };
  if ("segment_entered" in t) return { kind: "segment_entered", segment: t.segment_entered };
  if ("segment_exited" in t) return { kind: "segment_exited", segment: t.segment_exited };
  if ("stage_entered" in t) return { kind: "stage_entered", stage: t.stage_entered };
  if ("stage_left" in t) return { kind: "stage_left", stage: t.stage_left };
  if ("schedule" in t) {
    const s = t.schedule;
    const schedule: Schedule =
      "at" in s
        ? { kind: "once", date: s.at.slice(0, 10), minuteOfDay: must(parseTimeOfDay(s.at.slice(11))) }
        : { kind: "every", every: s.every, minuteOfDay: must(parseTimeOfDay(s.time)) };
    return { kind: "schedule", schedule };
  }
  return { kind: "api" };
}

function via(v: RawVia | undefined): Via {
  if (v === undefined || v === "best") return { kind: "best" };
  return { kind: "channels", channels: typeof v === "string" ? [v] : v };
}

function steps(list: RawStep[], path: Path, prefix: string, conditions: Conditions): Step[] {
  return list.map((s, i) => step(s, [...path, i], `${prefix}${i}`, conditions));
}

function step(s: RawStep, path: Path, id: string, conditions: Conditions): Step {
  if ("send" in s) return { id, kind: "send", template: s.send, via: via(s.via) };
  if ("wait" in s) return { id, kind: "wait", wait: waitFor(s.wait, [...path, "wait"], conditions) };
  if ("branch" in s) {
    return {
      id,
      kind: "branch",
      branches: s.branch.map((b, j) => ({
        if: cond(conditions, [...path, "branch", j, "if"]),
        steps: steps(b.steps, [...path, "branch", j, "steps"], `${id}.if${j}.`, conditions),
      })),
      else: steps(s.else ?? [], [...path, "else"], `${id}.else.`, conditions),
    };
  }
  if ("split" in s) {
    return {
      id,
      kind: "split",
      arms: s.split.map((a, j) => ({
        fraction: fraction(a.percent),
        steps: steps(a.steps, [...path, "split", j, "steps"], `${id}.split${j}.`, conditions),
      })),
    };
  }
  if ("exit_if" in s) return { id, kind: "exit_if", condition: cond(conditions, [...path, "exit_if"]) };
  if ("update" in s) return { id, kind: "update", traits: s.update };
  if ("webhook" in s) {
    const w = s.webhook;
    return {
      id,
      kind: "webhook",
      url: w.url,
      method: w.method ?? "POST",
      body: w.body ?? null,
      secretEnv: w.secret_env ?? null,
    };
  }
  if ("task" in s) return { id, kind: "task", script: s.task.script, channel: s.task.channel ?? null };
  return { id, kind: "survey", survey: s.survey, via: via(s.via), template: s.template ?? null };
}

function waitFor(
  w: Extract<RawStep, { wait: unknown }>["wait"],
  path: Path,
  conditions: Conditions,
): WaitFor {
  if (typeof w === "string") return { kind: "duration", ms: ms(w) };
  if ("until" in w) return { kind: "until", minuteOfDay: must(parseTimeOfDay(w.until)) };
  return {
    kind: "event",
    event: w.event,
    timeoutMs: ms(w.timeout),
    where: optCond(conditions, [...path, "where"], w.where),
  };
}

function template(
  name: string,
  t: Record<string, unknown>,
  channels: Readonly<Record<string, Channel>>,
): Template {
  const bodies: Record<string, TemplateBody> = {};
  for (const [key, raw] of Object.entries(t)) {
    const kind = key in channels ? channels[key]?.kind : key;
    const b = (raw ?? {}) as Record<string, unknown>;
    const str = (k: string) => (typeof b[k] === "string" ? (b[k] as string) : null);
    switch (kind) {
      case "email":
        bodies[key] = {
          kind,
          subject: str("subject") ?? "",
          html: str("html"),
          text: str("text"),
          preheader: str("preheader"),
        };
        break;
      case "sms":
        bodies[key] = { kind, text: str("text") ?? "" };
        break;
      case "telegram":
        bodies[key] = {
          kind,
          text: str("text") ?? "",
          buttons: (b.buttons as { text: string; url: string }[] | undefined) ?? [],
        };
        break;
      case "push":
        bodies[key] = {
          kind,
          title: str("title") ?? "",
          body: str("body") ?? "",
          url: str("url"),
          icon: str("icon"),
        };
        break;
      case "webhook":
        bodies[key] = { kind, body: b.body ?? null };
        break;
      case "call":
        bodies[key] = { kind, script: str("script") ?? "" };
        break;
      default:
        // A sink channel's body is kept as written: it records what it would send.
        bodies[key] = { kind: "webhook", body: b };
    }
  }
  return { name, bodies };
}
