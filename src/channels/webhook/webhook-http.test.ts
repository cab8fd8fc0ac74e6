// How a receiver's answers become results, the signature's exact form, and what happens when no answer comes.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import {
  callWebhook,
  retryAfterMs,
  type WebhookRequest,
  type WebhookResponse,
  webhookHeaders,
  webhookSignature,
} from "./webhook-http.ts";

const AT = new Date("2026-03-02T10:00:00Z");
const request = (over: Partial<WebhookRequest> = {}): WebhookRequest => ({
  url: "https://hooks.example.com/in",
  method: "POST",
  body: '{"a":1}',
  deliveryId: "42",
  secret: "s",
  at: AT,
  attempt: 1,
  ...over,
});
const answering = (res: WebhookResponse) => ({ transport: async () => res, random: () => 0.5 });

test("the signature is HMAC-SHA256 over 'timestamp.body', with the delivery id and timestamp as headers", () => {
  const h = webhookHeaders(request());
  const ts = String(AT.getTime() / 1000);
  assert.equal(h["x-tact-timestamp"], ts);
  assert.equal(h["x-tact-delivery"], "42");
  assert.equal(h["content-type"], "application/json");
  const want = createHmac("sha256", "s").update(`${ts}.{"a":1}`).digest("hex");
  assert.equal(h["x-tact-signature"], `sha256=${want}`);
  assert.equal(webhookSignature("s", Number(ts), '{"a":1}'), `sha256=${want}`);
  assert.equal(webhookHeaders(request({ secret: null }))["x-tact-signature"], undefined);
});

test("2xx is sent; 408, 429 and 5xx are retried; 3xx and other 4xx fail at once with the status", async () => {
  assert.deepEqual(await callWebhook(request(), answering({ status: 204 })), {
    status: "sent",
    httpStatus: 204,
  });
  for (const status of [408, 429, 500, 502, 503]) {
    const r = await callWebhook(request(), answering({ status, excerpt: "later" }));
    assert.equal(r.status, "retry", String(status));
    assert.equal(r.status === "retry" && r.reason, `HTTP ${status}: later`);
  }
  for (const status of [400, 401, 404, 410, 422]) {
    assert.deepEqual(await callWebhook(request(), answering({ status })), {
      status: "failed",
      reason: `HTTP ${status}`,
      httpStatus: status,
    });
  }
  const moved = await callWebhook(request(), answering({ status: 301 }));
  assert.equal(moved.status, "failed");
  assert.match(moved.status === "failed" ? moved.reason : "", /redirects are not followed/);
});

test("Retry-After is honoured in seconds or as a date, within bounds; otherwise backoff with jitter", async () => {
  const after = async (retryAfter: string | null, attempt = 1) => {
    const r = await callWebhook(request({ attempt }), answering({ status: 503, retryAfter }));
    return r.status === "retry" ? r.afterMs : -1;
  };
  assert.equal(await after("30"), 30_000);
  assert.equal(await after(new Date(AT.getTime() + 90_000).toUTCString()), 90_000);
  assert.equal(await after("0"), 1_000, "never sooner than a second");
  assert.equal(await after(String(7 * 24 * 3600)), 6 * 3_600_000, "never later than six hours");
  // no Retry-After: 1 s + 0.5 × (min(1 h, 60 s × 2^(attempt−1)) − 1 s)
  assert.equal(await after(null, 1), 30_500);
  assert.equal(await after("soon", 3), 120_500);
  assert.equal(retryAfterMs(null, AT), null);
});

test("no answer is retried: a refused connection, a receiver that does not answer in time", async () => {
  const silent = createServer(() => {
    // never answers
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as AddressInfo).port;
  try {
    const slow = await callWebhook(request({ url: `http://127.0.0.1:${port}/` }), { timeoutMs: 200 });
    assert.deepEqual(slow.status === "retry" && [slow.reason, slow.httpStatus], [
      "no answer within 0.2 s",
      null,
    ]);
  } finally {
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  }
  const refused = await callWebhook(request({ url: `http://127.0.0.1:${port}/` }));
  assert.equal(refused.status, "retry");
  assert.match(refused.status === "retry" ? refused.reason : "", /ECONNREFUSED/);
});

test("a URL that is not http(s) fails without a request", async () => {
  let called = false;
  const transport = async () => {
    called = true;
    return { status: 200 };
  };
  assert.deepEqual(await callWebhook(request({ url: "file:///etc/passwd" }), { transport }), {
    status: "failed",
    reason: "url: file is not http or https",
    httpStatus: null,
  });
  assert.equal((await callWebhook(request({ url: "nope" }), { transport })).status, "failed");
  assert.equal(called, false);
});
