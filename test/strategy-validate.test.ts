// The strategy document as its author meets it: SPEC's sketch loads into a typed strategy; every kind of
// mistake is reported at its line and column with the offending text and a "did you mean"; all mistakes come at
// once; hostile files (huge, not UTF-8, alias bombs, random damage) get a clear answer fast and never a crash;
// and `tact strategy validate|schema` print, exit and emit JSON as documented.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import type { Diagnostic } from "../src/strategy/diagnostics.ts";
import { strategyJsonSchema } from "../src/strategy/json-schema.ts";
import { loadStrategy } from "../src/strategy/load.ts";
import { validateStrategy } from "../src/strategy/validate.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const FIXTURES = join(ROOT, "test/fixtures/strategy");
const SKETCH_FILE = join(FIXTURES, "spec-sketch.yaml");
const SKETCH = readFileSync(SKETCH_FILE, "utf8");
const BROKEN_FILE = join(FIXTURES, "many-errors.yaml");
const BROKEN = readFileSync(BROKEN_FILE, "utf8");
const dir = mkdtempSync(join(tmpdir(), "tact-strategy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Line and column (1-based) of the nth occurrence of `needle` in `text`, found independently of the code. */
function where(text: string, needle: string, nth = 0): { line: number; column: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    assert.notEqual(at, -1, `fixture has no '${needle}' #${nth}`);
  }
  const before = text.slice(0, at);
  return { line: before.split("\n").length, column: at - before.lastIndexOf("\n") };
}

function errorsOf(text: string, file = join(dir, "strategy.yaml")): Diagnostic[] {
  const r = loadStrategy(text, file);
  assert.equal(r.ok, false, "expected the document to be refused");
  return r.ok ? [] : r.diagnostics;
}

function find(diags: Diagnostic[], code: string, line: number): Diagnostic {
  const d = diags.find((x) => x.code === code && x.line === line);
  assert.ok(
    d,
    `no ${code} on line ${line}; got:\n${diags.map((x) => `${x.line}:${x.column} ${x.code} ${x.message}`).join("\n")}`,
  );
  return d;
}

function tact(...args: string[]) {
  const env = { ...process.env, TACT_DATA_DIR: join(dir, "data"), LOG_LEVEL: "silent" };
  const started = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, "bin/tact.js"), ...args], {
    env,
    encoding: "utf8",
    cwd: ROOT,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started };
}

test("SPEC's sketch (without the clv stage) loads into a typed strategy", () => {
  const r = loadStrategy(SKETCH, SKETCH_FILE);
  assert.ok(r.ok, r.ok ? "" : r.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`).join("\n"));
  const s = r.strategy;
  assert.equal(s.timezone, "Europe/Moscow");
  assert.deepEqual(
    s.stages.map((x) => x.name),
    ["lapsed", "at_risk", "repeat", "first_buyer", "lead", "visitor"],
  );
  assert.equal(s.stages[0]?.condition.source, "orders >= 1 and days_since_last_order > 120");
  assert.ok(s.stages[0]?.condition.ast, "conditions carry their syntax tree");
  assert.equal(s.goals.first_purchase?.windowMs, 14 * 86_400_000);
  assert.deepEqual(s.goals.first_purchase?.target, { kind: "conversion_rate", rate: 0.08 });
  assert.equal(s.rules.controlGroup, 0.05);
  assert.equal(s.rules.minGapMs, 4 * 3_600_000);
  assert.deepEqual(s.rules.quietHours, { start: 21 * 60, end: 9 * 60 });
  assert.deepEqual(s.rules.frequency[0], { max: 1, perMs: 86_400_000, channels: ["sms", "call"] });
  assert.deepEqual(s.channels.call?.capacity, { count: 200, perMs: 86_400_000 });
  const welcome = s.scenarios.welcome;
  assert.equal(welcome?.goal, "first_purchase");
  assert.deepEqual(welcome?.trigger, { kind: "event", event: "signed_up", where: null });
  assert.deepEqual(
    welcome?.steps.map((x) => x.kind),
    ["send", "wait", "exit_if", "send"],
  );
  const wait = welcome?.steps[1];
  assert.ok(wait?.kind === "wait" && wait.wait.kind === "duration" && wait.wait.ms === 2 * 86_400_000);
  assert.equal(welcome?.experiment?.control, 0.1);
  assert.deepEqual(
    welcome?.experiment?.variants.map((v) => v.template),
    ["welcome_offer", "welcome_offer_discount"],
  );
});

test("the anchor stage of the sketch validates: clv_percentile is an attribute; a misspelt one is refused", () => {
  const text = SKETCH.replace("stages:", 'stages:\n  anchor: "clv_percentile >= 90"');
  const r = loadStrategy(text, SKETCH_FILE);
  assert.ok(r.ok, r.ok ? "" : r.diagnostics.map((d) => d.message).join("\n"));
  assert.equal(r.strategy.stages[0]?.name, "anchor");
  const typo = SKETCH.replace("stages:", 'stages:\n  anchor: "clv_percentil >= 90"');
  const diags = errorsOf(typo, SKETCH_FILE);
  const pos = where(typo, "clv_percentil >=");
  const d = find(diags, diags.find((x) => x.line === pos.line)?.code ?? "?", pos.line);
  assert.equal(d.column, pos.column);
  assert.equal(d.text, "clv_percentil");
  assert.match(d.suggestion ?? d.message, /clv_percentile/);
  assert.equal(diags.length, 1);
});

test("each kind of mistake is reported at its place with the offending text and a suggestion, all at once", () => {
  const diags = errorsOf(BROKEN, BROKEN_FILE);
  const cases: [code: string, needle: string, suggestion?: string, nth?: number][] = [
    ["unknown_timezone", "Europe/Moscw", "Europe/Moscow"],
    ["unknown_currency", "EURO", "EUR"],
    ["bad_duration", "-5d"],
    ["bad_duration", "100000y"],
    ["bad_percent", "150%"],
    ["secret_in_file", "password", "password_env"],
    ["invalid_value", "smpt", "smtp"],
    ["invalid_value", "opt_inn", "opt_in"],
    ["wrong_type", "5\n"],
    ["unknown_channel", "telegram]"],
    ["condition_syntax", "ordrs", "orders"],
    ["segment_cycle", "\"segment('fans')"],
    ["unknown_goal", "first_purchse", "first_purchase"],
    ["unknown_key", "stage:", "stage_entered"],
    ["unknown_key", "priorty", "priority"],
    ["unknown_template", "welcom_1", "welcome_1"],
    ["unknown_channel", "emial]", "email"],
    ["bad_duration", "2x"],
    ["missing_key", "no_goal"],
    ["unknown_segment", "lyal", "loyal"],
    ["unknown_key", "sned", "send"],
    ["duplicate_key", "goal: repeat_purchase"],
    ["template_missing_channel", "email\n\ntemplates"],
    ["unknown_channel", "emial:", "email"],
  ];
  for (const [code, needle, suggestion, nth] of cases) {
    const pos = where(BROKEN, needle, nth);
    const d = find(diags, code, pos.line);
    assert.equal(d.column, pos.column, `${code} '${needle}': column`);
    assert.equal(d.file, BROKEN_FILE);
    const token = needle.replace(/[\]:\n].*$/s, "");
    assert.ok(d.text.startsWith(token), `${code}: text '${d.text}' starts with '${token}'`);
    assert.equal(d.suggestion, suggestion, `${code} '${needle}': suggestion`);
  }
  assert.equal(diags.length, cases.length, diags.map((x) => `${x.line}:${x.column} ${x.code}`).join("\n"));
  assert.match(find(diags, "missing_key", where(BROKEN, "no_goal").line).message, /goal/);
  assert.ok(diags.every((d) => d.severity === "error"));
});

test("malformed YAML is reported with yaml's own message at its position", () => {
  const text =
    "version: 1\nname: x\ncurrency: EUR\ngoals:\n  a: { event: e, window: 1d, target: 5%\nchannels: {}\n";
  const diags = errorsOf(text);
  assert.ok(diags.length >= 1);
  assert.ok(diags.every((d) => d.code === "yaml_syntax"));
  assert.ok(
    diags.some((d) => d.line === 5 || d.line === 6),
    JSON.stringify(diags),
  );
});

test("conditions in quoted and block scalars point at the exact character in the file", () => {
  const base = SKETCH.replace(
    'b2b:              "traits.company exists"',
    "b2b: 'traits.company exists and ordrs > 1'\n  multi: |\n    orders >= 1\n      and dayz_since_last_order > 3",
  );
  const diags = errorsOf(base, SKETCH_FILE);
  const a = where(base, "ordrs");
  const b = where(base, "dayz_since_last_order");
  assert.equal(find(diags, diags.find((d) => d.line === a.line)?.code ?? "?", a.line).column, a.column);
  assert.equal(find(diags, diags.find((d) => d.line === b.line)?.code ?? "?", b.line).column, b.column);
  assert.equal(diags.find((d) => d.line === a.line)?.suggestion, "orders");
});

test("a template file named in the document must exist beside it", () => {
  const elsewhere = join(dir, "moved.yaml");
  const diags = errorsOf(SKETCH, elsewhere);
  const pos = where(SKETCH, "templates/welcome_1.mjml");
  const d = find(diags, "template_file_missing", pos.line);
  assert.equal(d.column, pos.column);
  assert.equal(diags.length, 1);
});

test("a segment depending on itself through the stage is a cycle, named step by step", () => {
  const text = SKETCH.replace(
    'lead:        "reachable"',
    "lead:        \"reachable and segment('b2b')\"",
  ).replace('"traits.company exists"', "\"traits.company exists and stage == 'lead'\"");
  const diags = errorsOf(text, SKETCH_FILE);
  const d = find(diags, "segment_cycle", where(text, "b2b:").line);
  assert.match(d.message, /b2b → stage → b2b/);
});

test("a file that is not UTF-8 is refused naming the byte, fast", () => {
  const good = Buffer.from("version: 1\nname: Caf\u00e9\n", "utf8");
  const bad = Buffer.concat([good, Buffer.from([0x63, 0x75, 0xff, 0x0a])]);
  const started = performance.now();
  const r = loadStrategy(bad, "latin1.yaml");
  assert.ok(!r.ok);
  const d = r.ok ? undefined : r.diagnostics[0];
  assert.equal(d?.code, "not_utf8");
  assert.match(d?.message ?? "", new RegExp(`byte ${good.length + 2}\\b`));
  assert.equal(d?.line, 3);
  assert.equal(d?.column, 3);
  assert.ok(performance.now() - started < 1000);
  const utf16 = loadStrategy(Buffer.from("\ufeffversion: 1", "utf16le"), "u16.yaml");
  assert.ok(!utf16.ok && utf16.diagnostics[0]?.code === "not_utf8");
});

test("a 10 MB document is refused before parsing, fast; an alias bomb is stopped", () => {
  const huge = `version: 1\nname: x\ncurrency: EUR\nsegments:\n${'  s: "orders > 1"\n'.repeat(600_000)}`;
  assert.ok(Buffer.byteLength(huge) > 10 * 1024 * 1024);
  let started = performance.now();
  const r = loadStrategy(huge, "huge.yaml");
  assert.ok(!r.ok && r.diagnostics[0]?.code === "file_too_large");
  assert.ok(performance.now() - started < 2000);

  const bomb = ["version: 1", "name: x", "currency: EUR", "a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++) {
    bomb.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(", ")}]`,
    );
  }
  started = performance.now();
  const b = loadStrategy(bomb.join("\n"), "bomb.yaml");
  assert.ok(
    !b.ok && b.diagnostics.some((d) => d.code === "alias_limit"),
    JSON.stringify(b.ok ? [] : b.diagnostics),
  );
  assert.ok(performance.now() - started < 2000);
});

test("nothing throws: damaged copies of the sketch always come back as a result", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(SKETCH.length), fc.nat(8), fc.string({ maxLength: 6 })), {
        minLength: 1,
        maxLength: 4,
      }),
      (edits) => {
        let text = SKETCH;
        for (const [at, del, ins] of edits) text = text.slice(0, at) + ins + text.slice(at + del);
        const r = loadStrategy(text, SKETCH_FILE);
        if (!r.ok) {
          for (const d of r.diagnostics) {
            assert.ok(d.line >= 1 && d.column >= 1 && typeof d.message === "string" && d.message.length > 0);
            assert.notEqual(d.code, "internal_error", d.message);
          }
        }
      },
    ),
    { numRuns: 300, seed: 7 },
  );
});

test("lint diagnostics join the output; lint runs only on a strategy without errors", async () => {
  let calls = 0;
  const lint = (): Diagnostic[] => {
    calls++;
    return [
      {
        severity: "warning",
        code: "empty_audience",
        message: "no customer matches",
        file: "x",
        line: 2,
        column: 1,
        text: "",
      },
    ];
  };
  const ok = await validateStrategy(SKETCH, SKETCH_FILE, { lint });
  assert.equal(ok.valid, true);
  assert.deepEqual(
    ok.warnings.map((w) => w.code),
    ["empty_audience"],
  );
  const bad = await validateStrategy(BROKEN, BROKEN_FILE, { lint });
  assert.equal(bad.valid, false);
  assert.equal(calls, 1);
});

test("tact strategy validate: text with caret and suggestion, --json, --strict, exit codes 0/1/2", () => {
  const valid = tact("strategy", "validate", SKETCH_FILE);
  assert.equal(valid.code, 0, valid.stderr);
  assert.match(valid.stdout, /valid/);

  const broken = tact("strategy", "validate", BROKEN_FILE);
  assert.equal(broken.code, 1);
  const pos = where(BROKEN, "priorty");
  const lines = broken.stdout.split("\n");
  const at = lines.findIndex((l) =>
    l.startsWith(`${BROKEN_FILE}:${pos.line}:${pos.column}: error unknown_key`),
  );
  assert.ok(at >= 0, broken.stdout);
  assert.match(lines[at + 1] ?? "", /priorty: 10/);
  const caretLine = lines[at + 2] ?? "";
  assert.equal(
    caretLine.indexOf("^") - caretLine.indexOf("|"),
    (lines[at + 1] ?? "").indexOf("priorty") - (lines[at + 1] ?? "").indexOf("|"),
  );
  assert.match(caretLine, /\^{7}$/);
  assert.ok(lines.slice(at, at + 6).some((l) => /did you mean 'priority'/.test(l)));
  assert.match(broken.stdout, /24 errors/);

  const json = tact("strategy", "validate", "--json", BROKEN_FILE);
  assert.equal(json.code, 1);
  const out = JSON.parse(json.stdout) as { valid: boolean; errors: Diagnostic[]; warnings: Diagnostic[] };
  assert.equal(out.valid, false);
  assert.equal(out.errors.length, 24);
  assert.ok(out.errors.some((e) => e.code === "unknown_goal" && e.suggestion === "first_purchase"));

  const warned = join(dir, "warned.yaml");
  const inline = SKETCH.replace("html: templates/welcome_1.mjml", 'html: "<p>Hi</p>"');
  writeFileSync(warned, inline.replace("    priority: 50", "    priority: 50\n    sample: 5%"));
  const lenient = tact("strategy", "validate", "--json", warned);
  assert.equal(lenient.code, 0, lenient.stdout);
  const warnings = (JSON.parse(lenient.stdout) as { warnings: Diagnostic[] }).warnings.map((w) => w.code);
  assert.ok(warnings.includes("sample_ignored"), warnings.join(", "));
  assert.equal(tact("strategy", "validate", "--strict", warned).code, 1);

  const missing = tact("strategy", "validate", join(dir, "nope.yaml"));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such file/);
  assert.equal(tact("strategy", "validate").code, 2);
});

test("tact strategy validate refuses a 10 MB file and a non-UTF-8 file fast and clearly", () => {
  const huge = join(dir, "huge.yaml");
  writeFileSync(huge, Buffer.alloc(10 * 1024 * 1024, 0x61));
  const r = tact("strategy", "validate", huge);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /file_too_large .*10\.0 MB.*at most 5 MB/);
  assert.ok(r.ms < 15_000);
  const latin = join(dir, "latin1.yaml");
  writeFileSync(latin, Buffer.from("version: 1\nname: Caf\xe9\n", "latin1"));
  const l = tact("strategy", "validate", "--json", latin);
  assert.equal(l.code, 1);
  const err = (JSON.parse(l.stdout) as { errors: Diagnostic[] }).errors[0];
  assert.equal(err?.code, "not_utf8");
  assert.match(err?.message ?? "", new RegExp(`byte ${"version: 1\nname: Caf".length}\\b`));
});

test("tact strategy schema prints the document's JSON Schema (draft 2020-12)", () => {
  const r = tact("strategy", "schema");
  assert.equal(r.code, 0);
  const schema = JSON.parse(r.stdout) as {
    $schema: string;
    properties: Record<string, unknown>;
    required: string[];
  };
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  for (const key of [
    "version",
    "goals",
    "channels",
    "rules",
    "stages",
    "segments",
    "scenarios",
    "templates",
  ]) {
    assert.ok(key in schema.properties, key);
  }
  assert.deepEqual(schema, JSON.parse(JSON.stringify(strategyJsonSchema())));
  assert.ok(JSON.stringify(schema).includes('"goal"'));
});

test("validate checks the templates too: a misspelt variable and broken Liquid, placed at the template", () => {
  const file = join(dir, "templates-bad.yaml");
  writeFileSync(
    file,
    `version: 1
name: T
currency: EUR
goals:
  g: { event: order_completed, window: 14d, target: 5% }
channels:
  email: { provider: smtp, from: "a <a@b.c>", cost: 0 }
scenarios:
  s:
    goal: g
    trigger: { event: signed_up }
    steps:
      - send: t
        via: [email]
templates:
  t:
    email: { subject: "Hi {{ custmer.first_name }}", html: "<p>{% if %}</p>" }
`,
  );
  const r = tact("strategy", "validate", file, "--json");
  assert.equal(r.code, 1, r.stderr);
  const out = JSON.parse(r.stdout) as { errors: Diagnostic[] };
  assert.deepEqual(
    out.errors.map((d) => [d.code, d.line]),
    [
      ["unknown_variable", 17],
      ["liquid_syntax", 17],
    ],
  );
  assert.match(out.errors[0]?.message ?? "", /custmer/);
});
