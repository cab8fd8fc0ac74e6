// References inside scenarios and templates: goals, triggers' segments and stages, the templates and channels of
// each send step (and that the template has a body for every channel the step may use), experiments, splits,
// and template bodies keyed by a channel's name or written in files beside the strategy.
import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { Diagnostic } from "./diagnostics.ts";
import { issuesToDiagnostics } from "./issues.ts";
import type { Path } from "./positions.ts";
import { asObj, EVENT_FILTER, type Obj, type ReferenceContext } from "./references.ts";
import { BODY_SCHEMAS } from "./schema.ts";
import { suggest } from "./suggest.ts";
import { parsePercent } from "./values.ts";

const EXIT = { allowSinceEntry: true, allowStage: true };
const ENTRY = { allowSinceEntry: false, allowStage: true };
const BODY_KINDS = Object.keys(BODY_SCHEMAS);

interface ScenarioInfo {
  name: string;
  variants: string[];
  usedVariant: boolean;
}

export function checkScenarios(ctx: ReferenceContext): void {
  for (const [name, value] of Object.entries(asObj(ctx.doc.scenarios) ?? {})) {
    const sc = asObj(value);
    if (!sc) continue;
    const base = ["scenarios", name];
    ctx.reference([...base, "goal"], sc.goal, ctx.goals, "goal");
    if (sc.audience !== undefined) ctx.condition([...base, "audience"], sc.audience, ENTRY);
    if (sc.exit_if !== undefined) ctx.condition([...base, "exit_if"], sc.exit_if, EXIT);
    checkTrigger(ctx, [...base, "trigger"], asObj(sc.trigger));
    if (sc.mode === "pilot" && sc.sample === undefined) {
      ctx.error(
        [...base, "mode"],
        "missing_key",
        "pilot mode needs 'sample: N%', the share of the audience to try it on",
      );
    }
    if (sc.mode !== "pilot" && sc.sample !== undefined) {
      ctx.warn(
        [...base, "sample"],
        "sample_ignored",
        "'sample' applies only with 'mode: pilot'; a live scenario reaches its whole audience",
      );
    }
    const info: ScenarioInfo = {
      name,
      variants: checkExperiment(ctx, base, asObj(sc.experiment)),
      usedVariant: false,
    };
    checkSteps(ctx, [...base, "steps"], sc.steps, info);
    if (info.variants.length > 0 && !info.usedVariant) {
      ctx.error(
        [...base, "experiment", "variants"],
        "experiment_unused",
        `no send step of scenario '${name}' sends one of the variants (${info.variants.join(", ")})`,
      );
    }
  }
}

function checkTrigger(ctx: ReferenceContext, path: Path, trigger: Obj | undefined): void {
  if (!trigger) return;
  if (trigger.where !== undefined) ctx.condition([...path, "where"], trigger.where, EVENT_FILTER);
  for (const key of ["segment_entered", "segment_exited"]) {
    if (key in trigger) ctx.reference([...path, key], trigger[key], ctx.segments, "segment");
  }
  for (const key of ["stage_entered", "stage_left"]) {
    if (key in trigger) ctx.reference([...path, key], trigger[key], ctx.stages, "stage");
  }
}

function checkExperiment(ctx: ReferenceContext, base: Path, exp: Obj | undefined): string[] {
  const variants = asObj(exp?.variants);
  if (!variants) return [];
  const path = [...base, "experiment", "variants"];
  const entries = Object.entries(variants);
  if (entries.length < 2 || entries.length > 8) {
    ctx.error(path, "bad_experiment", `an experiment has 2 to 8 variants, found ${entries.length}`);
  }
  for (const [v, template] of entries) ctx.reference([...path, v], template, ctx.templates, "template");
  return entries.map(([, t]) => t).filter((t): t is string => typeof t === "string");
}

function checkSteps(ctx: ReferenceContext, path: Path, steps: unknown, info: ScenarioInfo): void {
  if (!Array.isArray(steps)) return;
  steps.forEach((value, i) => {
    const step = asObj(value);
    if (step) checkStep(ctx, [...path, i], step, info);
  });
}

function checkStep(ctx: ReferenceContext, path: Path, step: Obj, info: ScenarioInfo): void {
  if ("send" in step) checkSend(ctx, path, step.send, step.via, info);
  if ("survey" in step) {
    if (step.template !== undefined) checkSend(ctx, path, step.template, step.via, info, "template");
    else checkVia(ctx, path, step.via);
  }
  if ("exit_if" in step) ctx.condition([...path, "exit_if"], step.exit_if, EXIT);
  const wait = asObj(step.wait);
  if (wait?.where !== undefined) ctx.condition([...path, "wait", "where"], wait.where, EVENT_FILTER);
  if (Array.isArray(step.branch)) {
    step.branch.forEach((b, j) => {
      const arm = asObj(b);
      if (!arm) return;
      ctx.condition([...path, "branch", j, "if"], arm.if, EXIT);
      checkSteps(ctx, [...path, "branch", j, "steps"], arm.steps, info);
    });
    checkSteps(ctx, [...path, "else"], step.else, info);
  }
  if (Array.isArray(step.split)) {
    let total = 0;
    step.split.forEach((s, j) => {
      const arm = asObj(s);
      const p = parsePercent(arm?.percent);
      if (p.ok) total += p.value;
      checkSteps(ctx, [...path, "split", j, "steps"], arm?.steps, info);
    });
    if (Math.abs(total - 1) > 1e-9) {
      ctx.error(
        [...path, "split"],
        "bad_split",
        `the split's percentages add up to ${Math.round(total * 10000) / 100}%, not 100%`,
      );
    }
  }
  const task = asObj(step.task);
  if (task) {
    const calls = [...ctx.channels].filter(([, c]) => c.kind === "call").map(([n]) => n);
    if (task.channel !== undefined)
      ctx.reference([...path, "task", "channel"], task.channel, calls, "call_center channel");
    else if (calls.length === 0)
      ctx.error([...path, "task"], "no_call_center", "a task needs a channel with 'provider: call_center'");
  }
}

/** The channels a step may use: the named ones, or for `best` every channel of the strategy. */
function checkVia(ctx: ReferenceContext, path: Path, via: unknown): { channels: string[]; best: boolean } {
  if (via === undefined || via === "best") return { channels: [...ctx.channels.keys()], best: true };
  const list = typeof via === "string" ? [via] : Array.isArray(via) ? via : [];
  const known = [...ctx.channels.keys()];
  const channels: string[] = [];
  list.forEach((c, i) => {
    const at = typeof via === "string" ? [...path, "via"] : [...path, "via", i];
    if (c === "best") ctx.error(at, "bad_via", "'best' stands alone: write 'via: best', not in a list");
    else if (ctx.reference(at, c, known, "channel") && typeof c === "string") channels.push(c);
  });
  return { channels, best: false };
}

function checkSend(
  ctx: ReferenceContext,
  path: Path,
  template: unknown,
  via: unknown,
  info: ScenarioInfo,
  key = "send",
): void {
  const { channels, best } = checkVia(ctx, path, via);
  if (!ctx.reference([...path, key], template, ctx.templates, "template") || typeof template !== "string")
    return;
  // The step of an experiment sends any of its variants: each must be able to go out on the step's channels.
  const isVariant = info.variants.includes(template);
  if (isVariant) info.usedVariant = true;
  const templates = isVariant ? info.variants.filter((t) => ctx.templates.includes(t)) : [template];
  for (const t of templates) {
    const covered = channels.filter((c) => hasBody(ctx, t, c));
    if (best && covered.length === 0 && channels.length > 0) {
      ctx.error(
        [...path, key],
        "template_missing_channel",
        `template '${t}' has no body for any channel of the strategy`,
      );
    }
    if (best) continue;
    for (const c of channels) {
      if (covered.includes(c)) continue;
      const kind = ctx.channels.get(c)?.kind ?? c;
      const at = typeof via === "string" ? [...path, "via"] : [...path, "via", channels.indexOf(c)];
      ctx.error(
        at,
        "template_missing_channel",
        `template '${t}' has no body for channel '${c}': add templates.${t}.${kind === "sink" ? c : kind}`,
      );
    }
  }
}

function hasBody(ctx: ReferenceContext, template: string, channel: string): boolean {
  const bodies = asObj(asObj(ctx.doc.templates)?.[template]) ?? {};
  const kind = ctx.channels.get(channel)?.kind;
  if (kind === "sink") return Object.keys(bodies).length > 0;
  return channel in bodies || (kind !== undefined && kind in bodies);
}

export function checkTemplates(ctx: ReferenceContext): void {
  const base = ctx.file === "-" || ctx.file.startsWith("<") ? undefined : dirname(resolve(ctx.file));
  for (const [name, value] of Object.entries(asObj(ctx.doc.templates) ?? {})) {
    const template = asObj(value);
    if (!template) continue;
    for (const [key, body] of Object.entries(template)) {
      const path = ["templates", name, key];
      const channel = ctx.channels.get(key);
      const kind = BODY_KINDS.includes(key) ? key : channel?.kind;
      if (kind === undefined) {
        const suggestion = suggest(key, [...BODY_KINDS, ...ctx.channels.keys()]);
        ctx.error(
          path,
          "unknown_channel",
          `'${key}' is neither a channel kind (${BODY_KINDS.join(", ")}) nor a channel of the strategy`,
          { suggestion },
          "key",
        );
        continue;
      }
      const schema = BODY_SCHEMAS[kind as keyof typeof BODY_SCHEMAS];
      if (channel && schema) {
        const r = schema.safeParse(body, { reportInput: true });
        if (!r.success) ctx.diagnostics.push(...issuesToDiagnostics(r.error.issues, ctx.src, path));
      }
      if (base) checkFiles(ctx, base, path, asObj(body));
    }
  }
}

const FILE_LIKE = /^[^\s<>{}]+\.(mjml|html?|txt|md|liquid)$/i;

/** `html`, `text` and `script` may name a file beside the strategy instead of holding the text. */
function checkFiles(ctx: ReferenceContext, base: string, path: Path, body: Obj | undefined): void {
  for (const key of ["html", "text", "script"]) {
    const v = body?.[key];
    if (typeof v !== "string" || !FILE_LIKE.test(v)) continue;
    const full = isAbsolute(v) ? v : resolve(base, v);
    if (!existsSync(full)) {
      const d: Diagnostic = ctx.src.at(
        [...path, key],
        "error",
        "template_file_missing",
        `no file '${v}' (looked for ${full})`,
      );
      ctx.diagnostics.push(d);
    }
  }
}
