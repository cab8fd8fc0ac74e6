// What can be known about templates before anything is sent: Liquid syntax errors, top-level variables that no
// message will ever have, `customer.x` fields that are neither profile fields nor known traits (a warning: traits
// arrive with the data), and MJML the converter refuses. Positions are lines and columns within the field's text
// (or its file); the strategy validator joins them to the strategy's own diagnostics.
import type { Liquid } from "liquidjs";
import type { Strategy, TemplateBody } from "../../strategy/types.ts";
import { textFields, unreadFile } from "./compiled-body.ts";
import { htmlLiquid, textLiquid } from "./liquid-engines.ts";
import { isMjml, mjmlToHtml } from "./mjml-layout.ts";
import { CUSTOMER_FIELDS, TOP_LEVEL_VARIABLES } from "./variables.ts";

export type TemplateProblemCode =
  | "liquid_syntax"
  | "unknown_variable"
  | "unknown_customer_field"
  | "mjml_invalid"
  | "template_file_unread";

export interface TemplateProblem {
  severity: "error" | "warning";
  code: TemplateProblemCode;
  template: string;
  /** The body's key: a channel kind (email, sms, …) or a channel's name. */
  channel: string;
  field: string;
  line: number;
  column: number;
  message: string;
  variable?: string;
}

export interface TemplateCheckOptions {
  /** Trait names seen in the workspace's data: `customer.<trait>` with one of them is not flagged. */
  knownTraits?: ReadonlySet<string>;
}

type Where = Pick<TemplateProblem, "template" | "channel" | "field">;

const TOP_LEVEL = new Set<string>(TOP_LEVEL_VARIABLES);
const CUSTOMER = new Set<string>(CUSTOMER_FIELDS);

function position(message: string): { line: number; column: number } {
  const m = /line:(\d+), col:(\d+)/.exec(message);
  return { line: Number(m?.[1] ?? 1), column: Number(m?.[2] ?? 1) };
}

function checkVariables(
  liquid: Liquid,
  source: string,
  where: Where,
  options: TemplateCheckOptions,
): TemplateProblem[] {
  let templates: ReturnType<Liquid["parse"]>;
  try {
    templates = liquid.parse(source);
  } catch (err) {
    const message = (err as Error).message;
    const text = message.replace(/, line:\d+, col:\d+$/, "");
    return [{ severity: "error", code: "liquid_syntax", ...where, ...position(message), message: text }];
  }
  const problems: TemplateProblem[] = [];
  const { globals } = liquid.analyzeSync(templates, { partials: false });
  for (const [root, uses] of Object.entries(globals)) {
    for (const v of uses) {
      const at = { line: v.location.row, column: v.location.col };
      if (!TOP_LEVEL.has(root)) {
        const message = `unknown variable '${root}': a template can use ${TOP_LEVEL_VARIABLES.join(", ")}`;
        problems.push({
          severity: "error",
          code: "unknown_variable",
          ...where,
          ...at,
          message,
          variable: root,
        });
        continue;
      }
      const field = v.segments[1];
      if (root !== "customer" || typeof field !== "string" || CUSTOMER.has(field)) continue;
      if (options.knownTraits?.has(field)) continue;
      const message = `customer.${field} is not a profile field: it is read from the trait '${field}', and a customer without it fails to render unless a '| default:' is given`;
      problems.push({
        severity: "warning",
        code: "unknown_customer_field",
        ...where,
        ...at,
        message,
        variable: `customer.${field}`,
      });
    }
  }
  return problems;
}

/** MJML's strict validation of the layout, its Liquid stood in for by plain words. */
async function checkMjml(source: string, where: Where): Promise<TemplateProblem[]> {
  const masked = source.replace(
    /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g,
    (_, offset: number) => `tactliquid${offset}x`,
  );
  const r = await mjmlToHtml(masked);
  if (r.ok) return [];
  // An error about a stand-in (a size written as a variable) depends on the value: rendering decides.
  return r.problems
    .filter((p) => !/tactliquid\d+x/.test(p.message))
    .map((p) => ({
      severity: "error" as const,
      code: "mjml_invalid" as const,
      ...where,
      line: p.line,
      column: 1,
      message: `MJML: ${p.message}`,
    }));
}

async function checkBody(
  template: string,
  channel: string,
  body: TemplateBody,
  options: TemplateCheckOptions,
): Promise<TemplateProblem[]> {
  const fields: [string, string, Liquid][] = textFields(body).map(([f, s]) => [f, s, textLiquid]);
  if (body.kind === "email" && body.html !== null) fields.push(["html", body.html, htmlLiquid]);
  const problems: TemplateProblem[] = [];
  for (const [field, source, liquid] of fields) {
    const where = { template, channel, field };
    const unread = (field === "html" || field === "text" || field === "script") && unreadFile(field, source);
    if (unread) {
      problems.push({
        severity: "warning",
        code: "template_file_unread",
        ...where,
        line: 1,
        column: 1,
        message: unread,
      });
      continue;
    }
    const found = checkVariables(liquid, source, where, options);
    problems.push(...found);
    if (field === "html" && isMjml(source) && !found.some((p) => p.code === "liquid_syntax")) {
      problems.push(...(await checkMjml(source, where)));
    }
  }
  return problems;
}

/** Every problem of every template of the strategy, in the order the templates are written. */
export async function checkTemplates(
  strategy: Strategy,
  options: TemplateCheckOptions = {},
): Promise<TemplateProblem[]> {
  const problems: TemplateProblem[] = [];
  for (const t of Object.values(strategy.templates)) {
    for (const [channel, body] of Object.entries(t.bodies)) {
      problems.push(...(await checkBody(t.name, channel, body, options)));
    }
  }
  return problems;
}
