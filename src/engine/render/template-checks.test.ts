import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadStrategy } from "../../strategy/load.ts";
import type { Strategy, TemplateBody } from "../../strategy/types.ts";
import { checkTemplates } from "./template-checks.ts";
import { resolveTemplateFiles } from "./template-files.ts";

function strategyWith(bodies: Record<string, TemplateBody>): Strategy {
  const file = "examples/flower-shop/strategy.yaml";
  const loaded = loadStrategy(readFileSync(file), file);
  if (!loaded.ok) assert.fail("the example loads");
  return { ...loaded.strategy, templates: { promo: { name: "promo", bodies } } };
}

const sms = (text: string): TemplateBody => ({ kind: "sms", text });

test("a Liquid syntax error is reported with the template, channel, field and line", async () => {
  const problems = await checkTemplates(
    strategyWith({ sms: sms("Hello\n{% if customer.orders > 1 %}again") }),
  );
  assert.equal(problems.length, 1);
  const p = problems[0];
  assert.equal(p?.code, "liquid_syntax");
  assert.equal(p?.severity, "error");
  assert.deepEqual([p?.template, p?.channel, p?.field, p?.line], ["promo", "sms", "text", 2]);
});

test("top-level variables other than the documented ones are errors; unknown customer fields are warnings", async () => {
  const body = sms(
    "{% assign n = customer.first_name %}{{ n }} {{ user.name }}\n{{ customer.company }} {{ customer.orders }} " +
      "{% for item in event.items %}{{ item.title }} {{ forloop.index }}{% endfor %} {{ unsubscribe_url }}",
  );
  const problems = await checkTemplates(strategyWith({ sms: body }));
  const byCode = (c: string) => problems.filter((p) => p.code === c);
  assert.deepEqual(
    byCode("unknown_variable").map((p) => [p.variable, p.line, p.severity]),
    [["user", 1, "error"]],
  );
  assert.deepEqual(
    byCode("unknown_customer_field").map((p) => [p.variable, p.line, p.severity]),
    [["customer.company", 2, "warning"]],
  );
  assert.equal(problems.length, 2, JSON.stringify(problems));
  const known = await checkTemplates(strategyWith({ sms: body }), { knownTraits: new Set(["company"]) });
  assert.deepEqual(
    known.map((p) => p.code),
    ["unknown_variable"],
  );
});

test("MJML the converter refuses is reported with its line; Liquid inside the layout is not", async () => {
  const html = `<mjml>
  <mj-body>
    <mj-section>
      <mj-text>Hi {{ customer.first_name | default: 'friend' }}</mj-text>
    </mj-section>
    <mj-section><mj-column><mj-text>{{ customer.first_name | default: 'x' }}</mj-text></mj-column></mj-section>
  </mj-body>
</mjml>`;
  const email: TemplateBody = { kind: "email", subject: "Hi", html, text: null, preheader: null };
  const problems = await checkTemplates(strategyWith({ email }));
  const mjml = problems.filter((p) => p.code === "mjml_invalid");
  assert.equal(mjml.length, 1, JSON.stringify(problems));
  assert.equal(mjml[0]?.line, 4);
  assert.match(mjml[0]?.message ?? "", /mj-text cannot be used inside mj-section/);
  assert.equal(mjml[0]?.field, "html");
});

test("a body still naming its file is flagged; with files resolved the example strategies have no problems", async () => {
  for (const name of ["online-school", "flower-shop"]) {
    const file = `examples/${name}/strategy.yaml`;
    const loaded = loadStrategy(readFileSync(file), file);
    if (!loaded.ok) assert.fail(`${name} loads`);
    const unresolved = await checkTemplates(loaded.strategy);
    assert.ok(unresolved.length > 0 && unresolved.every((p) => p.code === "template_file_unread"));
    const problems = await checkTemplates(resolveTemplateFiles(loaded.strategy, `examples/${name}`));
    assert.deepEqual(problems, [], name);
  }
});
