// The two Liquid engines templates are parsed with: one for text (subject, SMS, Telegram, push, scripts) and one
// for HTML that escapes every output (a customer's traits come from the public tracking API, so a name such as
// `<a href=…>` must reach the inbox as text, not as markup). Both are strict: an unknown variable or filter is an
// error, never an empty hole. Partials are refused (a template must not read files of the server), and every
// render runs under limits so a hostile template cannot hang a worker or fill its memory.
import { type FilterImplOptions, Liquid, type LiquidOptions, type Template } from "liquidjs";

type FilterHandler = Exclude<FilterImplOptions, { handler: unknown }>;
type FilterImpl = ThisParameterType<FilterHandler>;

/** Per render: what the date and money filters need and the template cannot see. */
export interface RenderInfo {
  now: Date;
  timezone: string;
  currency: string;
  locale: string;
}

/** Where a render's info rides on the scope: a symbol key, invisible to templates. */
export const RENDER_INFO: unique symbol = Symbol("render info");
export type Scope = Record<string, unknown> & { [RENDER_INFO]: RenderInfo };

/** Per render; generous for real templates (the examples use a fraction), fatal to loops of millions. */
export const RENDER_LIMITS = { renderLimit: 500, memoryLimit: 10_000_000, templateLimit: 200_000 } as const;
/** Characters of template text parsed at once. */
const PARSE_LIMIT = 1_000_000;

const OPTIONS: LiquidOptions = {
  strictVariables: true,
  strictFilters: true,
  // `| default:` and `{% if %}` accept a missing variable; everything else refuses it.
  lenientIf: true,
  ownPropertyOnly: true,
  relativeReference: false,
  parseLimit: PARSE_LIMIT,
  ...RENDER_LIMITS,
};

function infoOf(impl: FilterImpl): RenderInfo | undefined {
  return (impl.context.environments as Partial<Scope>)[RENDER_INFO];
}

/** `'now'` is the render's time (the engine's clock, virtual in simulations), and dates show in the customer's zone. */
function withRenderTime(liquid: Liquid): void {
  for (const name of [
    "date",
    "date_to_xmlschema",
    "date_to_rfc822",
    "date_to_string",
    "date_to_long_string",
  ]) {
    const builtin = liquid.filters[name];
    const handler = typeof builtin === "function" ? builtin : builtin?.handler;
    if (!handler) continue;
    const wrapped: FilterHandler = function (this: FilterImpl, value: unknown, ...args: unknown[]) {
      const info = infoOf(this);
      const v = info && (value === "now" || value === "today") ? info.now : value;
      if (name === "date" && info && args[1] === undefined)
        return handler.call(this, v, args[0], info.timezone);
      return handler.call(this, v, ...args);
    };
    liquid.registerFilter(name, wrapped);
  }
}

/** `{{ price | money }}` in the strategy's currency and the customer's locale. */
function money(this: FilterImpl, value: unknown, currency?: unknown): string {
  const info = infoOf(this);
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n)) return String(value ?? "");
  const code = typeof currency === "string" ? currency : (info?.currency ?? "USD");
  try {
    return new Intl.NumberFormat(info?.locale ?? "en", { style: "currency", currency: code }).format(n);
  } catch {
    return `${n.toFixed(2)} ${code}`;
  }
}

function refusePartials(liquid: Liquid): void {
  for (const tag of ["include", "render", "layout"]) {
    liquid.registerTag(tag, {
      parse() {
        throw new Error(`{% ${tag} %} is not available: a template holds all of its text`);
      },
      *render() {},
    });
  }
}

function engine(extra: LiquidOptions): Liquid {
  const liquid = new Liquid({ ...OPTIONS, ...extra });
  withRenderTime(liquid);
  liquid.registerFilter("money", money);
  refusePartials(liquid);
  return liquid;
}

export const textLiquid = engine({});
export const htmlLiquid = engine({ outputEscape: "escape" });

export type { Template as LiquidTemplate };
