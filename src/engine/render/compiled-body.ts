// A template body parsed once: each Liquid field of it, and the email's layout converted from MJML. Kept per body
// object, i.e. per (strategy version, template, channel) for as long as the engine keeps that version parsed.
import type { TemplateBody } from "../../strategy/types.ts";
import { htmlLiquid, type LiquidTemplate, textLiquid } from "./liquid-engines.ts";
import { isMjml, type LineMapping, precompileLayout } from "./mjml-layout.ts";

/** How an email's HTML is made per message. */
export type HtmlPlan =
  | { mode: "html"; template: LiquidTemplate[] }
  /** MJML converted once; the Liquid of the result is rendered per message. */
  | { mode: "precompiled"; template: LiquidTemplate[]; lines: LineMapping[] }
  /** Liquid rendered per message into the MJML, then converted. */
  | { mode: "mjml"; template: LiquidTemplate[] };

export type Compiled =
  | { ok: true; fields: Map<string, LiquidTemplate[]>; html: HtmlPlan | null }
  | { ok: false; reason: string };

/** A string that names a file beside the strategy instead of holding the text (see template-files.ts). */
export const FILE_REFERENCE = /^[^\s<>{}]+\.(mjml|html?|txt|md|liquid)$/i;

/** The text fields of a body, by name; the email's html is planned apart. */
export function textFields(body: TemplateBody): [string, string][] {
  switch (body.kind) {
    case "email":
      return [
        ["subject", body.subject],
        ["text", body.text],
        ["preheader", body.preheader],
      ].filter((f): f is [string, string] => typeof f[1] === "string");
    case "sms":
      return [["text", body.text]];
    case "telegram":
      return [
        ["text", body.text],
        ...body.buttons.flatMap((b, i): [string, string][] => [
          [`buttons.${i}.text`, b.text],
          [`buttons.${i}.url`, b.url],
        ]),
      ];
    case "push":
      return [
        ["title", body.title],
        ["body", body.body],
        ["url", body.url],
        ["icon", body.icon],
      ].filter((f): f is [string, string] => typeof f[1] === "string");
    case "call":
      return [["script", body.script]];
    case "webhook":
      return jsonStrings(body.body, "body");
  }
}

/** Every string inside a webhook body, by its path: each is a Liquid template of its own. */
function jsonStrings(value: unknown, path: string): [string, string][] {
  if (typeof value === "string") return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => jsonStrings(v, `${path}.${i}`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => jsonStrings(v, `${path}.${k}`));
  }
  return [];
}

export function unreadFile(field: string, value: string): string | undefined {
  return FILE_REFERENCE.test(value.trim())
    ? `${field} names the file '${value.trim()}', which was not read: apply the strategy from its file so the file's text is stored with it`
    : undefined;
}

export async function compileBody(body: TemplateBody): Promise<Compiled> {
  const fields = new Map<string, LiquidTemplate[]>();
  let field = "";
  try {
    for (const [name, source] of textFields(body)) {
      field = name;
      const unread = (name === "text" || name === "script") && unreadFile(name, source);
      if (unread) return { ok: false, reason: unread };
      fields.set(name, textLiquid.parse(source));
    }
    field = "html";
    const html = body.kind === "email" && body.html !== null ? await planHtml(body.html) : null;
    if (html && !("mode" in html)) return html;
    return { ok: true, fields, html };
  } catch (err) {
    return { ok: false, reason: `${field}: ${(err as Error).message}` };
  }
}

async function planHtml(source: string): Promise<HtmlPlan | { ok: false; reason: string }> {
  const unread = unreadFile("html", source);
  if (unread) return { ok: false, reason: unread };
  if (!isMjml(source)) return { mode: "html", template: htmlLiquid.parse(source) };
  // The per-message plan is parsed first, so a Liquid syntax error is reported against the text as written.
  const perMessage = htmlLiquid.parse(source);
  const layout = await precompileLayout(source);
  if (!layout.ok) {
    const first = layout.problems[0];
    return { ok: false, reason: `html: MJML line ${first?.line ?? 1}: ${first?.message ?? "invalid"}` };
  }
  if (layout.html === null) return { mode: "mjml", template: perMessage };
  return { mode: "precompiled", template: htmlLiquid.parse(layout.html), lines: layout.lines };
}
