// The template preview endpoint: a template of the strategy in force rendered for a real customer on each of its
// channels, strictly (a variable the customer lacks is a 422 naming it), limited (a hostile template answers
// quickly), and always from the version in force.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { systemClock } from "../src/core/clock.ts";
import { ApiRegistry, openApiDocument } from "../src/server/api.ts";
import { buildApp } from "../src/server/app.ts";
import { registerTemplates } from "../src/server/routes/templates.ts";
import { KeyResolver } from "../src/store/workspaces.ts";
import { basic, get, post, type TestDb, type TestWorkspace, testDb, testWorkspace } from "./helpers.ts";

const f = {} as {
  t: TestDb;
  url: string;
  w: TestWorkspace;
  close: () => Promise<void>;
  /** The registry the test registered the route on, when the app did not. */
  own?: ApiRegistry;
};

before(async () => {
  f.t = await testDb();
  const app = await buildApp({ db: f.t.db, clock: systemClock, logger: false });
  // Until the app registers the route itself, the test does.
  if (!app.hasRoute({ method: "POST", url: "/api/v1/templates/:name/preview" })) {
    f.own = new ApiRegistry(app, new KeyResolver(f.t.db));
    registerTemplates(f.own, f.t.db, systemClock);
  }
  await app.listen({ port: 0, host: "127.0.0.1" });
  const addr = app.server.address();
  f.url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  f.close = () => app.close();
  f.w = await testWorkspace(f.t.db);
});
after(async () => {
  await f.close?.();
  await f.t?.close();
});

const STRATEGY = `version: 1
name: Petals
currency: EUR
timezone: Europe/Berlin
goals:
  first_purchase: { event: order_completed, window: 14d, target: 8% }
channels:
  email: { provider: smtp, from: "Petals <hi@petals.example>", cost: 0.01 }
  sms: { provider: smpp, sender: PETALS, cost: 0.05 }
  telegram: { provider: telegram, cost: 0 }
stages:
  lead: "reachable"
  visitor: "true"
scenarios:
  welcome:
    goal: first_purchase
    trigger: { event: signed_up }
    steps:
      - send: welcome
        via: [telegram, email, sms]
templates:
  welcome:
    email:
      subject: "Welcome, {{ customer.first_name | default: 'friend' }}"
      preheader: "Free delivery on your first bouquet"
      html: |
        <mjml>
          <mj-body>
            <mj-section>
              <mj-column><mj-text>Hi {{ customer.first_name | default: 'friend' }}, tulips are in.</mj-text></mj-column>
              <mj-column><mj-button href="https://petals.example/?c={{ customer.id }}">Shop now</mj-button></mj-column>
            </mj-section>
            <mj-section><mj-column><mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section>
          </mj-body>
        </mjml>
    sms:
      text: "Petals: hi {{ customer.first_name | default: 'friend' }}, free delivery this week"
    telegram:
      text: "Hi {{ customer.first_name | default: 'friend' }}!"
      buttons:
        - { text: "Shop", url: "https://petals.example/?c={{ customer.id }}" }
  order_thanks:
    email: { subject: "Thank you, {{ customer.first_name }}", text: "Order {{ event.order_id }}: {{ event.total | money }}" }
  hostile:
    sms: { text: "{% for i in (1..100000000) %}{{ i }}{% endfor %}" }
`;

const admin = () => ({ authorization: `Bearer ${f.w.adminKey}` });
const apply = (source: string) => post(`${f.url}/api/v1/strategy`, { source, file: "petals.yaml" }, admin());
const preview = (name: string, body: unknown, headers = admin()) =>
  post(`${f.url}/api/v1/templates/${name}/preview`, body, headers);

async function customer(userId: string, traits: Record<string, unknown>): Promise<string> {
  const r = await post(`${f.url}/v1/identify`, { userId, traits }, { authorization: basic(f.w.writeKey) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [c] = (await get(`${f.url}/api/v1/customers?userId=${userId}`, f.w.adminKey)).body.customers;
  return c.id;
}

test("before any strategy is applied a preview is a 404", async () => {
  const id = await customer("early", { email: "early@example.com" });
  const r = await preview("welcome", { customerId: id });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, "no_strategy");
});

test("a preview renders every channel of the template for the customer", async () => {
  assert.equal((await apply(STRATEGY)).status, 201);
  const id = await customer("anna", {
    email: "anna@example.com",
    first_name: "Anna",
    phone: "+491701234567",
  });
  const r = await preview("welcome", { customerId: id });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.template, "welcome");
  assert.deepEqual(Object.keys(r.body.channels).sort(), ["email", "sms", "telegram"]);
  const { email, sms, telegram } = r.body.channels;
  assert.equal(email.subject, "Welcome, Anna");
  assert.match(email.html, /^<!doctype html>/i);
  assert.match(email.html, /@media only screen and \(min-width:480px\)/);
  assert.match(email.html, /Hi Anna, tulips are in\./);
  assert.match(email.html, new RegExp(`href="https://petals\\.example/\\?c=${id}"`));
  assert.match(email.html, /Free delivery on your first bouquet/);
  assert.doesNotMatch(email.html, /\{\{|<mj-/);
  assert.match(email.text, new RegExp(`Shop now \\(https://petals\\.example/\\?c=${id}\\)`));
  assert.equal(email.preheader, "Free delivery on your first bouquet");
  assert.deepEqual(sms, {
    kind: "sms",
    text: "Petals: hi Anna, free delivery this week",
    encoding: "gsm7",
    segments: 1,
  });
  assert.deepEqual(telegram.buttons, [{ text: "Shop", url: `https://petals.example/?c=${id}` }]);

  const one = await preview("welcome", { customerId: Number(id), channel: "sms" });
  assert.equal(one.status, 200);
  assert.deepEqual(Object.keys(one.body.channels), ["sms"]);
});

test("a variable the customer lacks answers 422 naming it; the event of the body fills event variables", async () => {
  const nameless = await customer("nameless", { email: "n@example.com" });
  const missing = await preview("order_thanks", { customerId: nameless });
  assert.equal(missing.status, 422);
  assert.equal(missing.body.error.code, "render_failed");
  assert.equal(missing.body.error.variable, "customer.first_name");
  assert.equal(missing.body.error.channel, "email");

  const named = await customer("olga", { email: "o@example.com", first_name: "Olga" });
  const noEvent = await preview("order_thanks", { customerId: named });
  assert.equal(noEvent.status, 422);
  assert.match(noEvent.body.error.variable, /^event/);
  const r = await preview("order_thanks", {
    customerId: named,
    event: { name: "order_completed", properties: { order_id: "A-17", total: 42.5 } },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.channels.email.subject, "Thank you, Olga");
  assert.equal(r.body.channels.email.text, "Order A-17: €42.50");
  assert.equal(r.body.channels.email.html, null);
});

test("a hostile template answers 422 quickly instead of hanging the server", async () => {
  const id = await customer("anna", {});
  const started = performance.now();
  const r = await preview("hostile", { customerId: id });
  assert.equal(r.status, 422);
  assert.match(r.body.error.message, /too much work/);
  assert.ok(performance.now() - started < 5000);
});

test("unknown template, customer or channel is a 404; no admin key is a 401; bad bodies are 400", async () => {
  const id = await customer("anna", {});
  assert.equal((await preview("nope", { customerId: id })).status, 404);
  assert.equal((await preview("welcome", { customerId: "999999999" })).status, 404);
  assert.equal((await preview("welcome", { customerId: "not-an-id" })).status, 404);
  const channel = await preview("welcome", { customerId: id, channel: "pigeon" });
  assert.equal(channel.status, 404);
  assert.equal(channel.body.error.code, "unknown_channel");
  const noBody = await preview("order_thanks", { customerId: id, channel: "sms" });
  assert.equal(noBody.status, 404);
  assert.equal(
    (await preview("welcome", { customerId: id }, { authorization: basic(f.w.writeKey) })).status,
    401,
  );
  assert.equal((await preview("welcome", {})).status, 400);
  const doc = f.own ? openApiDocument(f.own.specs, "test") : (await get(`${f.url}/openapi.json`)).body;
  assert.ok(doc.paths["/api/v1/templates/{name}/preview"]);
});

test("a preview follows the version in force", async () => {
  const id = await customer("anna", {});
  const changed = STRATEGY.replace("tulips are in", "peonies are in");
  assert.equal((await apply(changed)).status, 201);
  const r = await preview("welcome", { customerId: id, channel: "email" });
  assert.equal(r.status, 200);
  assert.match(r.body.channels.email.html, /Hi Anna, peonies are in\./);
  assert.equal(r.body.version, 2);
});
