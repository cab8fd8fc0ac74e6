import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { loadStrategy } from "../../strategy/load.ts";
import { renderMessage } from "./render-message.ts";
import { inlineTemplateFiles } from "./template-files.ts";

test("inlining template files makes the source self-contained and keeps every line where it was", async () => {
  const file = "examples/online-school/strategy.yaml";
  const source = readFileSync(file, "utf8");
  const inlined = inlineTemplateFiles(source, file);
  assert.deepEqual(inlined.problems, []);
  assert.equal(inlined.source.split("\n").length, source.split("\n").length);
  assert.doesNotMatch(inlined.source, /html: templates\//);
  // Loaded without a folder to look in (as a stored version is), the bodies hold the files' text.
  const loaded = loadStrategy(inlined.source, "<stored>");
  if (!loaded.ok) assert.fail(JSON.stringify(loaded.diagnostics.slice(0, 2)));
  const welcome = loaded.strategy.templates.welcome_1;
  const email = loaded.strategy.channels.email;
  assert.ok(welcome && email);
  const body = welcome.bodies.email;
  assert.ok(body?.kind === "email");
  assert.equal(body.html, readFileSync("examples/online-school/templates/welcome-1.mjml", "utf8"));
  const r = await renderMessage({
    template: welcome,
    channel: email,
    customer: {
      customer_id: "1",
      user_id: null,
      email: "a@example.com",
      phone: null,
      telegram_chat_id: null,
      traits: { first_name: "Ivan" },
      timezone: null,
      locale: null,
      consents: {},
      preferred_channel: null,
      orders: 0,
      revenue: 0,
      first_order_at: null,
      last_order_at: null,
      first_seen_at: null,
      last_seen_at: null,
    },
    event: null,
    scenario: null,
    message: { id: "m", unsubscribe_url: "https://tact.example/u/1" },
    strategy: { name: "s", currency: "RUB", timezone: "Europe/Moscow" },
    now: new Date(),
  });
  assert.ok(
    r.ok && r.body.kind === "email" && r.body.html?.includes("Hi Ivan,"),
    JSON.stringify(r).slice(0, 300),
  );
});

test("a file that cannot be read is a problem naming it; quotes and newlines in files survive", () => {
  const dir = mkdtempSync(join(tmpdir(), "tact-templates-"));
  const text = 'Line "one"\n\tLine \\two\\ — {{ ok }}: yes\u2028# not a comment';
  writeFileSync(join(dir, "a.txt"), text);
  const source = [
    "templates:",
    "  a:",
    "    email: { subject: Hi, text: a.txt, html: missing.html }",
    "    call:",
    "      script: a.txt",
    "",
  ].join("\n");
  const r = inlineTemplateFiles(source, join(dir, "strategy.yaml"));
  assert.deepEqual(
    r.problems.map((p) => [p.template, p.channel, p.field, p.file]),
    [["a", "email", "html", "missing.html"]],
  );
  assert.match(r.problems[0]?.message ?? "", /no file 'missing.html'/);
  assert.equal(r.source.split("\n").length, source.split("\n").length);
  const parsed = parse(r.source) as {
    templates: { a: { email: { text: string }; call: { script: string } } };
  };
  assert.equal(parsed.templates.a.call.script, text);
  assert.equal(parsed.templates.a.email.text, text);
});
