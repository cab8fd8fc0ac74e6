import assert from "node:assert/strict";
import { test } from "node:test";
import type { CustomerFacts } from "../../core/condition/index.ts";
import type { Channel, ChannelKind, Template, TemplateBody } from "../../strategy/types.ts";
import { type RenderInput, renderMessage } from "./render-message.ts";

function channel(kind: ChannelKind, name: string = kind): Channel {
  const contact =
    kind === "email" ? "email" : kind === "sms" ? "phone" : kind === "telegram" ? "telegram" : "none";
  return { name, kind, provider: "sink", contact, cost: 0, capacity: null, rate: null, settings: {} };
}

function customer(traits: Record<string, unknown> = {}, extra: Partial<CustomerFacts> = {}): CustomerFacts {
  return {
    customer_id: "42",
    user_id: "u42",
    email: "anna@example.com",
    phone: null,
    telegram_chat_id: null,
    traits,
    timezone: "Europe/Moscow",
    locale: "en",
    consents: {},
    preferred_channel: null,
    orders: 2,
    revenue: 150,
    first_order_at: null,
    last_order_at: null,
    first_seen_at: null,
    last_seen_at: null,
    ...extra,
  };
}

function input(body: TemplateBody, over: Partial<RenderInput> = {}): RenderInput {
  const template: Template = { name: "t", bodies: { [body.kind]: body } };
  return {
    template,
    channel: channel(body.kind),
    customer: customer({ first_name: "Anna" }),
    event: null,
    scenario: null,
    message: { id: "m1", unsubscribe_url: "https://tact.example/u/tok?a=1&b=2" },
    strategy: { name: "Shop", currency: "EUR", timezone: "UTC" },
    now: new Date("2025-03-30T00:30:00Z"),
    ...over,
  };
}

const sms = (text: string): TemplateBody => ({ kind: "sms", text });
const email = (html: string | null, extra: Partial<TemplateBody & { kind: "email" }> = {}): TemplateBody => ({
  kind: "email",
  subject: "Hi {{ customer.first_name }}",
  html,
  text: null,
  preheader: null,
  ...extra,
});

async function rendered(i: RenderInput) {
  const r = await renderMessage(i);
  if (!r.ok) assert.fail(r.reason);
  return r.body;
}

test("a missing variable fails the render and names the variable; a default fills it", async () => {
  const noName = { customer: customer({}) };
  const r = await renderMessage(input(sms("Hi {{ customer.first_name }}, welcome"), noName));
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.variable === "customer.first_name", JSON.stringify(r));
  assert.ok(!r.ok && r.reason.includes("customer.first_name") && r.field === "text");

  const withDefault = sms("Hi {{ customer.first_name | default: 'friend' }}, welcome");
  assert.deepEqual(await rendered(input(withDefault, noName)), {
    kind: "sms",
    text: "Hi friend, welcome",
    encoding: "gsm7",
    segments: 1,
  });
  assert.equal(((await rendered(input(withDefault))) as { text: string }).text, "Hi Anna, welcome");
  // {% if %} on a missing value takes the else branch rather than failing.
  const cond = sms("{% if customer.first_name %}Hi {{ customer.first_name }}{% else %}Hello{% endif %}");
  assert.equal(((await rendered(input(cond, noName))) as { text: string }).text, "Hello");
});

test("variables: profile fields, traits as shortcuts, names from 'name', event, scenario, message, strategy", async () => {
  const body = sms(
    "{{ customer.first_name }} {{ customer.last_name }}|{{ customer.plan }}|{{ customer.traits.plan }}|" +
      "{{ customer.orders }}|{{ customer.email }}|{{ event.name }}:{{ event.order_id }}:{{ event.properties.total }}|" +
      "{{ scenario.name }}:{{ scenario.context.step }}|{{ message.id }}|{{ strategy.name }}|{{ unsubscribe_url }}",
  );
  const r = await rendered(
    input(body, {
      customer: customer({ name: "Anna Maria Ivanova", plan: "pro" }),
      event: { name: "order_completed", properties: { order_id: "A-1", total: 99 } },
      scenario: { name: "welcome", context: { step: 2 }, entered_at: new Date("2025-03-01T00:00:00Z") },
    }),
  );
  assert.equal(
    (r as { text: string }).text,
    "Anna Maria Ivanova|pro|pro|2|anna@example.com|order_completed:A-1:99|welcome:2|m1|Shop|https://tact.example/u/tok?a=1&b=2",
  );
  // No triggering event: reading one is a failure, not an empty string.
  const noEvent = await renderMessage(input(sms("Order {{ event.order_id }}")));
  assert.ok(!noEvent.ok && noEvent.variable?.startsWith("event"), JSON.stringify(noEvent));
  // A profile field the customer has no value for is missing too.
  const noPhone = await renderMessage(input(sms("Call {{ customer.phone }}")));
  assert.ok(!noPhone.ok && noPhone.variable === "customer.phone");
});

test("an unknown filter, a syntax error and a partial are refused", async () => {
  const unknownFilter = await renderMessage(input(sms("{{ customer.first_name | shout }}")));
  assert.ok(!unknownFilter.ok && /undefined filter: shout/.test(unknownFilter.reason));
  const syntax = await renderMessage(input(sms("{% if customer.first_name %}open")));
  assert.ok(!syntax.ok && /not closed/.test(syntax.reason), JSON.stringify(syntax));
  for (const tag of ["include", "render", "layout"]) {
    const r = await renderMessage(input(sms(`{% ${tag} '/etc/passwd' %}`)));
    assert.ok(!r.ok && r.reason.includes(`{% ${tag} %} is not available`), JSON.stringify(r));
  }
});

test("email HTML escapes customer data; subject and text do not", async () => {
  const i = input(email("<p>Hi {{ customer.first_name }}</p><p>{{ customer.first_name | raw }}</p>"), {
    customer: customer({ first_name: `<a href="https://evil.example">Anna</a>` }),
  });
  const r = await rendered(i);
  assert.ok(r.kind === "email");
  assert.ok(r.html?.includes("Hi &lt;a href=&#34;https://evil.example&#34;&gt;Anna&lt;/a&gt;"), r.html ?? "");
  assert.equal(r.subject, `Hi <a href="https://evil.example">Anna</a>`);
});

const LAYOUT = `<mjml>
  <mj-head><mj-title>Spring</mj-title></mj-head>
  <mj-body>
    <mj-section>
      <mj-column><mj-text>Hi {{ customer.first_name | default: 'friend' }}, spring is here.</mj-text></mj-column>
      <mj-column><mj-button href="https://shop.example/spring?c={{ customer.id }}">See the bouquets</mj-button></mj-column>
    </mj-section>
    {% if customer.orders > 1 %}
    <mj-section><mj-column><mj-text>Thank you for {{ customer.orders }} orders!</mj-text></mj-column></mj-section>
    {% endif %}
    <mj-section><mj-column><mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section>
  </mj-body>
</mjml>`;

test("an MJML layout becomes responsive HTML with the customer's data, and a text part", async () => {
  const r = await rendered(input(email(LAYOUT, { preheader: "Tulips for {{ customer.first_name }}" })));
  assert.ok(r.kind === "email" && r.html !== null);
  const html = r.html;
  assert.match(html, /^<!doctype html>/i);
  assert.match(html, /@media only screen and \(min-width:480px\)/, "MJML's responsive column styles");
  assert.doesNotMatch(html, /<mj-|\{\{|\{%/);
  assert.match(html, /Hi Anna, spring is here\./);
  assert.match(html, /href="https:\/\/shop\.example\/spring\?c=42"/);
  assert.match(html, /Thank you for 2 orders!/);
  assert.match(html, /href="https:\/\/tact\.example\/u\/tok\?a=1&amp;b=2"/);
  assert.match(html, /<body[^>]*><div style="display:none[^"]*">Tulips for Anna<\/div>/);
  assert.equal(r.preheader, "Tulips for Anna");
  // The text part: readable, links with their address, no markup, no preheader.
  assert.match(r.text, /Hi Anna, spring is here\./);
  assert.match(r.text, /See the bouquets \(https:\/\/shop\.example\/spring\?c=42\)/);
  assert.match(r.text, /Unsubscribe \(https:\/\/tact\.example\/u\/tok\?a=1&b=2\)/);
  assert.doesNotMatch(r.text, /<|&amp;|Tulips|Spring\n/);

  const once = await rendered(
    input(email(LAYOUT), { customer: customer({ first_name: "Olga" }, { orders: 1 }) }),
  );
  assert.ok(once.kind === "email");
  assert.match(once.html ?? "", /Hi Olga/);
  assert.doesNotMatch(once.html ?? "", /Thank you for/);
});

test("a text part given by the template is used as written; plain HTML is not converted", async () => {
  const r = await rendered(
    input(
      email("<p>Hello <b>{{ customer.first_name }}</b></p>", { text: "Hello {{ customer.first_name }}" }),
    ),
  );
  assert.ok(r.kind === "email");
  assert.equal(r.html, "<p>Hello <b>Anna</b></p>");
  assert.equal(r.text, "Hello Anna");
  const textOnly = await rendered(input(email(null, { text: "Just text, {{ customer.first_name }}" })));
  assert.ok(textOnly.kind === "email");
  assert.equal(textOnly.html, null);
  assert.equal(textOnly.text, "Just text, Anna");
});

test("a missing variable in an MJML layout names the layout's line", async () => {
  const r = await renderMessage(input(email(LAYOUT.replace("{{ customer.id }}", "{{ customer.coupon }}"))));
  assert.ok(!r.ok);
  assert.equal(r.variable, "customer.coupon");
  assert.equal(r.field, "html");
  assert.match(r.reason, /\(line 6\b/);
  // Without Liquid between sections the layout is converted once; the line is still the layout's.
  const simple = LAYOUT.replace(/\{% if[\s\S]*?endif %\}/, "").replace(
    "{{ customer.id }}",
    "{{ customer.coupon }}",
  );
  const once = await renderMessage(input(email(simple)));
  assert.ok(!once.ok && /\(line 6\)/.test(once.reason), JSON.stringify(once));
});

test("hostile templates are stopped: long loops, huge output, includes of server files", async () => {
  const started = performance.now();
  const loop = await renderMessage(input(sms("{% for i in (1..100000000) %}x{% endfor %}")));
  assert.ok(!loop.ok && /too much work/.test(loop.reason), JSON.stringify(loop));
  const nested = await renderMessage(
    input(sms("{% for i in (1..5000) %}{% for j in (1..5000) %}{{ i }}{% endfor %}{% endfor %}")),
  );
  assert.ok(!nested.ok && /too much work/.test(nested.reason), JSON.stringify(nested));
  const doubling =
    "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s }}";
  const big = await renderMessage(input(sms(doubling)));
  assert.ok(!big.ok && /too much work/.test(big.reason), JSON.stringify(big));
  assert.ok(performance.now() - started < 5000, "stopped within seconds");

  const include = `<mjml><mj-body><mj-include path="/etc/passwd" /><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>`;
  const r = await rendered(input(email(include)));
  assert.ok(r.kind === "email");
  assert.doesNotMatch(r.html ?? "", /root:/);
});

test("'now' is the render's time, and dates show in the customer's time zone", async () => {
  const body = sms(
    "{{ 'now' | date: '%Y-%m-%d %H:%M' }} / {{ '2025-03-30T00:30:00Z' | date: '%H:%M', 'UTC' }}",
  );
  const r = await rendered(input(body));
  // 00:30 UTC is 03:30 in Moscow.
  assert.equal((r as { text: string }).text, "2025-03-30 03:30 / 00:30");
  const utc = await rendered(input(body, { customer: customer({}, { timezone: "Not/AZone" }) }));
  assert.equal(
    (utc as { text: string }).text,
    "2025-03-30 00:30 / 00:30",
    "an invalid zone falls back to the strategy's",
  );
});

test("money in the strategy's currency; SMS segments of the rendered text; Telegram buttons rendered", async () => {
  const price = await rendered(input(sms("Total {{ customer.revenue | money }}")));
  assert.equal((price as { text: string }).text, "Total €150.00");
  const cyr = await rendered(
    input(sms("Привет, {{ customer.first_name }}! ".repeat(3)), {
      customer: customer({ first_name: "Анна" }),
    }),
  );
  assert.deepEqual(cyr, {
    kind: "sms",
    text: "Привет, Анна! Привет, Анна! Привет, Анна!",
    encoding: "ucs2",
    segments: 1,
  });
  const long = await rendered(
    input(sms("Привет, {{ customer.first_name }}! ".repeat(6)), {
      customer: customer({ first_name: "Анна" }),
    }),
  );
  assert.ok(long.kind === "sms" && long.segments === 2);
  const tg = await rendered(
    input({
      kind: "telegram",
      text: "Hi {{ customer.first_name }}",
      buttons: [
        { text: "Shop, {{ customer.first_name }}", url: "https://shop.example/?u={{ customer.id }}" },
      ],
    }),
  );
  assert.deepEqual(tg, {
    kind: "telegram",
    text: "Hi Anna",
    buttons: [{ text: "Shop, Anna", url: "https://shop.example/?u=42" }],
  });
});

test("a body naming a file that was never read fails instead of sending the file name", async () => {
  const r = await renderMessage(input(email("templates/welcome.mjml")));
  assert.ok(!r.ok && r.reason.includes("templates/welcome.mjml"), JSON.stringify(r));
  const none = await renderMessage({ ...input(sms("hi")), channel: channel("email") });
  assert.ok(!none.ok && /no body for channel 'email'/.test(none.reason));
});
