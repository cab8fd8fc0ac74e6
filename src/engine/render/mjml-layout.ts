// MJML email layouts. Converting MJML costs ~10 ms, too slow to do per message in a broadcast, so a layout is
// converted once with each Liquid expression stood in for by an inert token; if every token comes out once and in
// order, the result is a Liquid HTML template rendered per customer in microseconds. Liquid that MJML cannot
// carry (a `{% if %}` between sections, a variable as a number attribute) falls back to rendering Liquid first and
// converting the result per message. `mj-include` is ignored: a layout must not read files of the server.

const MJML_OPTIONS = { ignoreIncludes: true, keepComments: false, minify: false, beautify: false } as const;

export interface MjmlProblem {
  line: number;
  message: string;
}

export type MjmlResult = { ok: true; html: string } | { ok: false; problems: MjmlProblem[] };

/** MJML takes seconds to load: only processes that render email layouts pay for it. */
type Mjml = typeof import("mjml");
let loaded: Promise<Mjml> | undefined;
function mjml(): Promise<Mjml> {
  loaded ??= import("mjml").then((m) => (m as unknown as { default: Mjml }).default);
  return loaded;
}

/** An MJML document starts with its `<mjml>` root (after an optional XML declaration or comments). */
export function isMjml(html: string): boolean {
  return /^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<mjml[\s>]/i.test(html);
}

export async function mjmlToHtml(
  source: string,
  validation: "strict" | "soft" = "strict",
): Promise<MjmlResult> {
  try {
    const r = await (await mjml())(source, { ...MJML_OPTIONS, validationLevel: validation });
    if (validation === "strict" && r.errors.length > 0) return { ok: false, problems: problemsOf(r.errors) };
    return { ok: true, html: r.html };
  } catch (err) {
    // Strict validation throws with the list of errors; anything else is a document MJML could not read.
    const errors = (err as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) return { ok: false, problems: problemsOf(errors) };
    return { ok: false, problems: [{ line: 1, message: (err as Error).message }] };
  }
}

function problemsOf(errors: unknown[]): MjmlProblem[] {
  return errors.map((e) => {
    const o = (e ?? {}) as { line?: unknown; message?: unknown };
    return { line: typeof o.line === "number" ? o.line : 1, message: String(o.message ?? e) };
  });
}

const LIQUID = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;
const token = (i: number) => `tactliquid${i}x`;

/** Where a Liquid expression of the layout landed in the converted HTML: errors name the layout's line. */
export interface LineMapping {
  htmlLine: number;
  sourceLine: number;
}

const lineAt = (text: string, offset: number) => text.slice(0, offset).split("\n").length;

/**
 * The layout as a Liquid HTML template, or null when its Liquid does not survive MJML unchanged (then each
 * message renders Liquid first and converts after). A layout MJML refuses is a problem either way.
 */
export async function precompileLayout(
  source: string,
): Promise<{ ok: true; html: string | null; lines: LineMapping[] } | { ok: false; problems: MjmlProblem[] }> {
  const parts: { text: string; line: number }[] = [];
  const masked = source.replace(LIQUID, (m: string, offset: number) => {
    parts.push({ text: m, line: lineAt(source, offset) });
    return token(parts.length - 1);
  });
  if (parts.length === 0) {
    const plain = await mjmlToHtml(source);
    return plain.ok ? { ...plain, lines: [] } : plain;
  }
  const converted = await mjmlToHtml(masked);
  // The tokens themselves may be what MJML refuses (e.g. in a size attribute); decide per message.
  if (!converted.ok) return { ok: true, html: null, lines: [] };
  let next = 0;
  let intact = true;
  const found: { offset: number; part: number }[] = [];
  converted.html.replace(/tactliquid(\d+)x/g, (m: string, n: string, offset: number) => {
    if (Number(n) !== next) intact = false;
    found.push({ offset, part: Number(n) });
    next++;
    return m;
  });
  if (!intact || next !== parts.length) return { ok: true, html: null, lines: [] };
  let html = "";
  let from = 0;
  const lines: LineMapping[] = [];
  for (const f of found) {
    html += converted.html.slice(from, f.offset);
    const part = parts[f.part];
    lines.push({ htmlLine: html.split("\n").length, sourceLine: part?.line ?? 1 });
    html += part?.text ?? "";
    from = f.offset + token(f.part).length;
  }
  return { ok: true, html: html + converted.html.slice(from), lines };
}

/** The layout's line for a line of the converted HTML: that of the nearest Liquid expression at or above it. */
export function sourceLine(lines: readonly LineMapping[], htmlLine: number): number {
  let best: LineMapping | undefined;
  for (const l of lines) if (l.htmlLine <= htmlLine) best = l;
  return best ? best.sourceLine + (htmlLine - best.htmlLine) : htmlLine;
}
