// Template text kept in files beside the strategy (`html: templates/welcome.mjml`). The loader only checks that
// such a file exists; a stored strategy version must not depend on files of the machine that applied it, so the
// file's text is inlined into the strategy source before it is stored (`inlineTemplateFiles`), or into a loaded
// strategy for commands that never store it (`resolveTemplateFiles`: validate, simulate).
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { isMap, isScalar, parseDocument } from "yaml";
import type { Strategy, Template, TemplateBody } from "../../strategy/types.ts";
import { FILE_REFERENCE } from "./compiled-body.ts";

const FILE_KEYS = ["html", "text", "script"] as const;

export interface TemplateFileProblem {
  template: string;
  channel: string;
  field: string;
  file: string;
  message: string;
}

type Read = { text: string } | { error: string };

function readTemplateFile(baseDir: string, name: string): Read {
  const full = isAbsolute(name) ? name : resolve(baseDir, name);
  try {
    return { text: readFileSync(full, "utf8").replace(/^\uFEFF/, "") };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === "ENOENT" ? `no file '${name}' (looked for ${full})` : (err as Error).message };
  }
}

/** YAML text for a string on one line: a JSON string is a valid double-quoted YAML scalar. */
function yamlString(text: string): string {
  return JSON.stringify(text)
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * The strategy source with every template file reference replaced by the file's text, as one-line quoted
 * strings so every other line keeps its number (diagnostics still point at the right lines). `file` is the
 * strategy's path: references are relative to its folder.
 */
export function inlineTemplateFiles(
  source: string,
  file: string,
): { source: string; problems: TemplateFileProblem[] } {
  const doc = parseDocument(source);
  const templates = doc.get("templates", true);
  if (!isMap(templates)) return { source, problems: [] };
  const baseDir = dirname(resolve(file));
  const edits: { start: number; end: number; text: string }[] = [];
  const problems: TemplateFileProblem[] = [];
  for (const t of templates.items) {
    if (!isMap(t.value)) continue;
    for (const b of t.value.items) {
      if (!isMap(b.value)) continue;
      for (const field of FILE_KEYS) {
        const node = b.value.get(field, true);
        if (!isScalar(node) || typeof node.value !== "string" || !node.range) continue;
        if (!FILE_REFERENCE.test(node.value)) continue;
        const read = readTemplateFile(baseDir, node.value);
        const where = { template: String(t.key), channel: String(b.key), field, file: node.value };
        if ("error" in read) problems.push({ ...where, message: read.error });
        else edits.push({ start: node.range[0], end: node.range[1], text: yamlString(read.text) });
      }
    }
  }
  let out = source;
  for (const e of edits.sort((a, b) => b.start - a.start)) {
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
  }
  return { source: out, problems };
}

function resolveBody(body: TemplateBody, read: (name: string) => string | null): TemplateBody {
  const r = (v: string | null) => (v !== null && FILE_REFERENCE.test(v) ? (read(v) ?? v) : v);
  switch (body.kind) {
    case "email":
      return { ...body, html: r(body.html), text: r(body.text) };
    case "call":
      return { ...body, script: r(body.script) ?? body.script };
    default:
      return body;
  }
}

/** A loaded strategy whose template bodies hold their files' text; a file that cannot be read is left named. */
export function resolveTemplateFiles(strategy: Strategy, baseDir: string): Strategy {
  const read = (name: string) => {
    const r = readTemplateFile(baseDir, name);
    return "text" in r ? r.text : null;
  };
  const templates: Record<string, Template> = {};
  for (const [name, t] of Object.entries(strategy.templates)) {
    const bodies = Object.fromEntries(Object.entries(t.bodies).map(([k, b]) => [k, resolveBody(b, read)]));
    templates[name] = { name, bodies };
  }
  return { ...strategy, templates };
}
