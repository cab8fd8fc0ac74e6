// Renders one message: the template's body for the channel, with the customer, the triggering event, the
// scenario, the message's links and the strategy as variables. Strict: a missing variable makes the render fail
// with its name (the engine records the message as failed), never a message with holes. Email HTML is converted
// from MJML when it is MJML, gets its preheader, and a text part derived from it when the template has none.
import type { Channel, Template, TemplateBody } from "../../strategy/types.ts";
import { templateBodyFor } from "../../strategy/types.ts";
import { type Compiled, compileBody, type HtmlPlan } from "./compiled-body.ts";
import { htmlToText } from "./html-text.ts";
import { htmlLiquid, type LiquidTemplate, RENDER_LIMITS, type Scope, textLiquid } from "./liquid-engines.ts";
import { mjmlToHtml, sourceLine } from "./mjml-layout.ts";
import { smsSegments } from "./sms-segments.ts";
import { type RenderContext, renderScope } from "./variables.ts";

export type { RenderContext, TriggerEvent } from "./variables.ts";

export type RenderedBody =
  | { kind: "email"; subject: string; html: string | null; text: string; preheader: string | null }
  | { kind: "sms"; text: string; encoding: "gsm7" | "ucs2"; segments: number }
  | { kind: "telegram"; text: string; buttons: { text: string; url: string }[] }
  | { kind: "push"; title: string; body: string; url: string | null; icon: string | null }
  | { kind: "webhook"; body: unknown }
  | { kind: "call"; script: string };

export type RenderResult =
  | { ok: true; body: RenderedBody }
  | { ok: false; reason: string; variable?: string; field?: string };

export interface RenderInput extends RenderContext {
  template: Template;
  channel: Channel;
}

/** Largest rendered field: far above any real email, far below what would hurt a worker or an SMTP server. */
export const MAX_RENDERED_CHARS = 2_000_000;

const compiled = new WeakMap<object, Promise<Compiled>>();

function compiledFor(body: object & Parameters<typeof compileBody>[0]): Promise<Compiled> {
  let c = compiled.get(body);
  if (!c) {
    c = compileBody(body);
    compiled.set(body, c);
  }
  return c;
}

class RenderFailure extends Error {
  constructor(
    readonly reason: string,
    readonly field: string,
    readonly variable?: string,
  ) {
    super(reason);
  }
}

async function renderField(
  templates: LiquidTemplate[] | undefined,
  scope: Scope,
  field: string,
  html = false,
  mapLine: (line: number) => number = (line) => line,
): Promise<string> {
  if (!templates) return "";
  let out: unknown;
  try {
    out = await (html ? htmlLiquid : textLiquid).render(templates, scope, RENDER_LIMITS);
  } catch (err) {
    const e = err as Error;
    const message = e.message.replace(/, line:(\d+), col:(\d+)$/, (_, line: string, col: string) => {
      const mapped = mapLine(Number(line));
      return mapped === Number(line) ? ` (line ${line}, column ${col})` : ` (line ${mapped})`;
    });
    const variable = /^undefined variable: ([^,\s]+)/.exec(e.message)?.[1];
    const reason = /limit exceeded/.test(e.message)
      ? `${field}: the template does too much work (${message}); it was stopped`
      : `${field}: ${message}`;
    throw new RenderFailure(reason, field, variable);
  }
  const text = String(out ?? "");
  if (text.length > MAX_RENDERED_CHARS) {
    throw new RenderFailure(
      `${field}: the rendered text is longer than ${MAX_RENDERED_CHARS} characters`,
      field,
    );
  }
  return text;
}

/** A hidden first line: inboxes show it beside the subject. */
function withPreheader(html: string, preheader: string | null): string {
  if (!preheader) return html;
  const escaped = preheader.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const div = `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">${escaped}</div>`;
  return /<body[^>]*>/i.test(html) ? html.replace(/<body[^>]*>/i, (b) => `${b}${div}`) : div + html;
}

async function renderHtml(plan: HtmlPlan, scope: Scope): Promise<string> {
  const mapLine = plan.mode === "precompiled" ? (l: number) => sourceLine(plan.lines, l) : undefined;
  const rendered = await renderField(plan.template, scope, "html", true, mapLine);
  if (plan.mode !== "mjml") return rendered;
  const converted = await mjmlToHtml(rendered);
  if (!converted.ok) {
    const first = converted.problems[0];
    throw new RenderFailure(`html: MJML line ${first?.line ?? 1}: ${first?.message ?? "invalid"}`, "html");
  }
  return converted.html;
}

async function renderEmail(c: Compiled & { ok: true }, scope: Scope): Promise<RenderedBody> {
  const subject = (await renderField(c.fields.get("subject"), scope, "subject")).replace(/\s+/g, " ").trim();
  const preheader = c.fields.has("preheader")
    ? (await renderField(c.fields.get("preheader"), scope, "preheader")).trim() || null
    : null;
  const html = c.html ? withPreheader(await renderHtml(c.html, scope), preheader) : null;
  const text = c.fields.has("text")
    ? await renderField(c.fields.get("text"), scope, "text")
    : htmlToText(html ?? "");
  return { kind: "email", subject, html, text, preheader };
}

async function renderJson(value: unknown, path: string, c: Compiled & { ok: true }, scope: Scope) {
  if (typeof value === "string") return renderField(c.fields.get(path), scope, path);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const [i, v] of value.entries()) out.push(await renderJson(v, `${path}.${i}`, c, scope));
    return out;
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await renderJson(v, `${path}.${k}`, c, scope);
    return out;
  }
  return value;
}

async function renderBody(
  body: NonNullable<ReturnType<typeof templateBodyFor>>,
  c: Compiled & { ok: true },
  scope: Scope,
): Promise<RenderedBody> {
  const field = (name: string) => renderField(c.fields.get(name), scope, name);
  switch (body.kind) {
    case "email":
      return renderEmail(c, scope);
    case "sms": {
      const text = (await field("text")).trim();
      const { encoding, segments } = smsSegments(text);
      return { kind: "sms", text, encoding, segments };
    }
    case "telegram": {
      const buttons: { text: string; url: string }[] = [];
      for (const i of body.buttons.keys()) {
        buttons.push({
          text: await field(`buttons.${i}.text`),
          url: (await field(`buttons.${i}.url`)).trim(),
        });
      }
      return { kind: "telegram", text: await field("text"), buttons };
    }
    case "push": {
      const url = body.url === null ? null : (await field("url")).trim();
      const icon = body.icon === null ? null : (await field("icon")).trim();
      return { kind: "push", title: await field("title"), body: await field("body"), url, icon };
    }
    case "call":
      return { kind: "call", script: await field("script") };
    case "webhook":
      return { kind: "webhook", body: await renderJson(body.body, "body", c, scope) };
  }
}

export type JsonRenderResult =
  | { ok: true; value: unknown }
  | { ok: false; reason: string; variable?: string; field?: string };

const jsonBodies = new WeakMap<object, TemplateBody>();

/**
 * Renders every string inside a JSON value (a webhook step's body) as a strict Liquid text template with the
 * context messages get; other values are kept as they are. The parsed form is kept per value object.
 */
export async function renderJsonValue(value: unknown, ctx: RenderContext): Promise<JsonRenderResult> {
  let body: TemplateBody | undefined = value && typeof value === "object" ? jsonBodies.get(value) : undefined;
  if (!body) {
    body = { kind: "webhook", body: value };
    if (value && typeof value === "object") jsonBodies.set(value, body);
  }
  const c = await compiledFor(body);
  if (!c.ok) return { ok: false, reason: c.reason };
  try {
    return { ok: true, value: await renderJson(value, "body", c, renderScope(ctx)) };
  } catch (err) {
    if (!(err instanceof RenderFailure)) throw err;
    const failure = { ok: false as const, reason: err.reason, field: err.field };
    return err.variable ? { ...failure, variable: err.variable } : failure;
  }
}

export async function renderMessage(input: RenderInput): Promise<RenderResult> {
  const body = templateBodyFor(input.template, input.channel);
  if (!body) {
    return {
      ok: false,
      reason: `template '${input.template.name}' has no body for channel '${input.channel.name}' (${input.channel.kind})`,
    };
  }
  const c = await compiledFor(body);
  if (!c.ok) return { ok: false, reason: `template '${input.template.name}': ${c.reason}` };
  try {
    return { ok: true, body: await renderBody(body, c, renderScope(input)) };
  } catch (err) {
    if (!(err instanceof RenderFailure)) throw err;
    const failure: RenderResult = {
      ok: false,
      reason: `template '${input.template.name}' (${input.channel.name}) ${err.reason}`,
      field: err.field,
    };
    return err.variable ? { ...failure, variable: err.variable } : failure;
  }
}
