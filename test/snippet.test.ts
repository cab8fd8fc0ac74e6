// The web snippet /t.js in a real browser (Chromium through playwright-core): a shop page on another origin embeds
// it, and what it sends is read back through the admin API. The shop is served at http://localhost:<port> and Tact at
// http://127.0.0.1:<port>, so every call is a real cross-origin request.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import type { CustomerProfile } from "../src/store/profiles.ts";
import {
  get,
  startServer,
  type TestDb,
  type TestServer,
  type TestWorkspace,
  testDb,
  testWorkspace,
} from "./helpers.ts";

interface StoredEvent {
  messageId: string;
  type: string;
  name: string | null;
  properties: Record<string, unknown>;
  context: Record<string, unknown> | null;
}

interface SeenRequest {
  method: string;
  url: string;
  contentType: string | undefined;
  origin: string | undefined;
}

/** window.tact as the snippet defines it; used inside page.evaluate callbacks, which run in the browser. */
interface TactWindow {
  tact: {
    VERSION: string;
    identify(userId: string, traits?: object): void;
    track(event: string, properties?: object): void;
    page(name?: string, properties?: object): void;
    reset(): void;
  };
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let tdb: TestDb;
let tact: TestServer;
let ws: TestWorkspace;
let shop: Server;
let shopUrl: string;
let profileDir: string;
let browser: BrowserContext;
let page: Page;
const seen: SeenRequest[] = [];
const pageErrors: string[] = [];

/** Polls until fn returns a value (not undefined), or fails after the deadline. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function customersBy(query: Record<string, string>): Promise<CustomerProfile[]> {
  const res = await get(`${tact.url}/api/v1/customers?${new URLSearchParams(query)}`, ws.adminKey);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.customers as CustomerProfile[];
}

async function eventsOf(customerId: string): Promise<StoredEvent[]> {
  const res = await get(`${tact.url}/api/v1/customers/${customerId}/events?limit=1000`, ws.adminKey);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.events as StoredEvent[];
}

/**
 * The one customer found by the query once it has events matching want; fails if there is ever more than one.
 * The profile is read after the events, so it holds what those events changed.
 */
async function customerWith(
  query: Record<string, string>,
  want: (events: StoredEvent[]) => boolean,
): Promise<{ customer: CustomerProfile; events: StoredEvent[] }> {
  const one = async () => {
    const found = await customersBy(query);
    assert.ok(found.length <= 1, `one customer expected, found ${found.length}`);
    return found[0];
  };
  const events = await eventually(
    `a customer ${JSON.stringify(query)} with the expected events`,
    async () => {
      const customer = await one();
      if (!customer) return undefined;
      const events = await eventsOf(customer.id);
      return want(events) ? events : undefined;
    },
  );
  const customer = await one();
  assert.ok(customer);
  return { customer, events };
}

async function cookie(name: string): Promise<string | undefined> {
  const cookies = await browser.cookies(shopUrl);
  return cookies.find((c) => c.name === name)?.value;
}

function snippetTag(attrs: string, src = `${tact.url}/t.js`): string {
  return `<script src="${src}" data-write-key="${ws.writeKey}" ${attrs} async></script>`;
}

function shopPage(title: string, head: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>${head}</head><body><h1>${title}</h1></body></html>`;
}

before(async () => {
  tdb = await testDb();
  tact = await startServer(tdb.db);
  ws = await testWorkspace(tdb.db);
  // Observe every request Tact receives (a second listener beside Fastify's own).
  tact.app.server.on("request", (req) => {
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      contentType: req.headers["content-type"],
      origin: req.headers.origin,
    });
  });

  shop = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const html = (body: string) =>
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(body);
    if (path === "/" || path === "/pricing") {
      html(shopPage("Flower shop", snippetTag("")));
    } else if (path === "/queued") {
      // Calls queued before the script arrives, in a browser without crypto.randomUUID.
      html(
        shopPage(
          "Queued",
          `<script>delete Crypto.prototype.randomUUID;
           window.tact = window.tact || [];
           tact.push(["identify", "u-7", { email: "Boris@Example.com" }]);
           tact.push(["track", "viewed_offer", { offer: "spring" }]);</script>${snippetTag("")}`,
        ),
      );
    } else if (path === "/self-hosted") {
      // The script copied onto the shop's own origin, pointed at Tact by data-host, without the automatic page view.
      html(
        shopPage(
          "Self-hosted",
          snippetTag(`data-host="${tact.url}/" data-auto-page="false"`, "/static/t.js"),
        ),
      );
    } else if (path === "/static/t.js") {
      fetch(`${tact.url}/t.js`)
        .then(async (r) =>
          res.writeHead(200, { "content-type": "application/javascript" }).end(await r.text()),
        )
        .catch(() => res.writeHead(502).end());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => shop.listen(0, "127.0.0.1", resolve));
  shopUrl = `http://localhost:${(shop.address() as AddressInfo).port}`;

  profileDir = await mkdtemp(join(tmpdir(), "tact-chromium-"));
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on("pageerror", (err) => pageErrors.push(err.message));
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (shop ? shop.close(resolve) : resolve(undefined)));
  await tact?.close();
  await tdb?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
});

async function openShop(path: string): Promise<void> {
  await page.goto(`${shopUrl}${path}`);
  await snippetLoaded();
}

function snippetLoaded(): Promise<unknown> {
  return page.waitForFunction(() => typeof (window as Partial<TactWindow>).tact?.VERSION === "string");
}

test("GET /t.js serves a small cacheable script", async () => {
  const res = await fetch(`${tact.url}/t.js`, { headers: { "accept-encoding": "identity" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/javascript; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "public, max-age=300");
  const body = await res.text();
  assert.ok(Buffer.byteLength(body) < 4096, `the snippet is ${Buffer.byteLength(body)} bytes`);
  assert.match(body, /tact\.js/);
  assert.doesNotMatch(body, /=>|`|\b(let|const|class)\b|\.\.\./, "ES5 only: it runs on old browsers too");
  const etag = res.headers.get("etag");
  assert.ok(etag);
  const again = await fetch(`${tact.url}/t.js`, {
    headers: { "accept-encoding": "identity", "if-none-match": etag },
  });
  assert.equal(again.status, 304);

  const zipped = await fetch(`${tact.url}/t.js`); // node's fetch asks for gzip and decodes it
  assert.equal(zipped.headers.get("content-encoding"), "gzip");
  assert.equal(await zipped.text(), body);
});

test("a visitor's page views, identify and track end on one customer", async () => {
  await openShop("/?utm_source=news");
  const aid = await eventually("the tact_aid cookie", () => cookie("tact_aid"));
  assert.match(aid, UUID_V4);

  const first = await customerWith({ anonymousId: aid }, (ev) => ev.some((e) => e.type === "page"));
  const view = first.events.find((e) => e.type === "page");
  assert.equal(view?.name, "Flower shop");
  assert.equal(view?.properties.url, `${shopUrl}/?utm_source=news`);
  assert.equal(view?.properties.path, "/");
  assert.equal(view?.properties.search, "?utm_source=news");
  assert.equal(view?.properties.title, "Flower shop");
  assert.deepEqual(view?.context?.library, { name: "tact.js", version: "0.1.0" });
  assert.equal(typeof view?.context?.userAgent, "string");
  assert.equal(first.customer.locale, await page.evaluate(() => navigator.language));
  assert.equal(
    first.customer.timezone,
    await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone),
  );

  await page.reload();
  await snippetLoaded();
  assert.equal(await cookie("tact_aid"), aid, "the anonymous id survives a reload");
  await customerWith({ anonymousId: aid }, (ev) => ev.filter((e) => e.type === "page").length === 2);

  await page.evaluate(() => {
    const api = (window as unknown as TactWindow).tact;
    api.identify("u-42", { email: "Anna@Example.com" });
    api.track("signed_up", { plan: "pro" });
  });
  // The identify and the track are two requests sent at once: either may be applied first, so wait for both.
  const done = await customerWith(
    { userId: "u-42" },
    (ev) => ev.some((e) => e.type === "track") && ev.some((e) => e.type === "identify"),
  );
  const { customer, events } = done;
  assert.equal(customer.userId, "u-42");
  assert.ok(
    customer.anonymousIds.includes(aid),
    `anonymousIds ${customer.anonymousIds} hold the cookie's ${aid}`,
  );
  assert.equal(customer.email, "anna@example.com");
  assert.deepEqual(
    events.map((e) => e.type).sort(),
    ["identify", "page", "page", "track"],
    "both page views, the identify and the track",
  );
  assert.equal(events.find((e) => e.type === "track")?.name, "signed_up");
  assert.deepEqual(events.find((e) => e.type === "track")?.properties, { plan: "pro" });
  const byAnon = await customersBy({ anonymousId: aid });
  assert.deepEqual(
    byAnon.map((c) => c.id),
    [customer.id],
  );
  assert.equal(await cookie("tact_uid"), "u-42");

  // Every call was a CORS-simple POST from the shop's origin: text/plain, no preflight.
  const calls = seen.filter((r) => r.url.startsWith("/v1/"));
  assert.equal(calls.length, 4);
  for (const r of calls) {
    assert.equal(r.method, "POST");
    assert.equal(r.origin, shopUrl);
    assert.match(r.contentType ?? "", /^text\/plain/);
  }
  assert.deepEqual(pageErrors, []);
});

test("reset forgets the visitor: the next call comes from a new anonymous id and no userId", async () => {
  const before = await cookie("tact_aid");
  assert.ok(before);
  await page.evaluate(() => (window as unknown as TactWindow).tact.reset());
  assert.equal(await cookie("tact_aid"), undefined);
  assert.equal(await cookie("tact_uid"), undefined);
  await page.evaluate(() => (window as unknown as TactWindow).tact.track("after_reset"));
  const aid = await eventually("a new tact_aid cookie", () => cookie("tact_aid"));
  assert.notEqual(aid, before);
  const { customer } = await customerWith({ anonymousId: aid }, (ev) =>
    ev.some((e) => e.name === "after_reset"),
  );
  assert.equal(customer.userId, null);
  const [anna] = await customersBy({ userId: "u-42" });
  assert.notEqual(customer.id, anna?.id);
});

test("calls queued before the script loads are sent, with a fallback uuid", async () => {
  await browser.clearCookies();
  await openShop("/queued");
  const aid = await eventually("the tact_aid cookie", () => cookie("tact_aid"));
  assert.match(aid, UUID_V4, "getRandomValues makes a v4 uuid too");
  const { customer, events } = await customerWith({ userId: "u-7" }, (ev) => ev.length === 3);
  assert.deepEqual(customer.anonymousIds, [aid]);
  assert.equal(customer.email, "boris@example.com");
  assert.deepEqual(events.map((e) => e.type).sort(), ["identify", "page", "track"]);
  for (const e of events) assert.match(e.messageId, UUID_V4);
  assert.deepEqual(pageErrors, []);
});

test("data-host sends to Tact from a self-hosted copy; data-auto-page=false sends no page view", async () => {
  await browser.clearCookies();
  const before = seen.length;
  await openShop("/self-hosted");
  await page.evaluate(() => (window as unknown as TactWindow).tact.page("Checkout", { step: 2 }));
  const aid = await eventually("the tact_aid cookie", () => cookie("tact_aid"));
  const { events } = await customerWith({ anonymousId: aid }, (ev) => ev.length > 0);
  assert.equal(events.length, 1, "only the explicit page call");
  assert.equal(events[0]?.name, "Checkout");
  assert.equal(events[0]?.properties.step, 2);
  assert.equal(events[0]?.properties.path, "/self-hosted");
  assert.deepEqual(
    seen
      .slice(before)
      .filter((r) => !r.url.startsWith("/api/"))
      .map((r) => `${r.method} ${r.url}`),
    ["GET /t.js", "POST /v1/page"],
  );
  assert.deepEqual(pageErrors, []);
});

test("a call that fails on the network is retried once, and stored once", async () => {
  let attempts = 0;
  await page.route("**/v1/track", (route) => {
    attempts++;
    return attempts === 1 ? route.abort("connectionreset") : route.continue();
  });
  try {
    await page.evaluate(() => (window as unknown as TactWindow).tact.track("flaky_network"));
    const aid = await eventually("the tact_aid cookie", () => cookie("tact_aid"));
    const { events } = await customerWith({ anonymousId: aid }, (ev) =>
      ev.some((e) => e.name === "flaky_network"),
    );
    assert.equal(events.filter((e) => e.name === "flaky_network").length, 1);
    assert.equal(attempts, 2);
  } finally {
    await page.unrouteAll();
  }
});
