// Email over SMTP against a real SMTP server on loopback (smtp-server), whose received messages are parsed with
// mailparser: headers, parts, tracking, error mapping, pooling, and that the password never shows in logs.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { simpleParser } from "mailparser";
import { pino } from "pino";
import type { OutboundMessage } from "../src/channels/channel.ts";
import { SmtpAdapter } from "../src/channels/email/smtp-adapter.ts";
import { messageLinks, verifyLink } from "../src/channels/links.ts";
import { ChannelRegistry } from "../src/channels/registry.ts";
import type { Channel } from "../src/strategy/types.ts";
import { PASSWORD, TestSmtp } from "./smtp-server.ts";

const SECRET = "link-secret-for-tests";
const BASE = "https://tact.example.com";

function channel(port: number, extra: Record<string, unknown> = {}): Channel {
  return {
    name: "email",
    provider: "smtp",
    kind: "email",
    contact: "email",
    cost: 0,
    capacity: null,
    rate: null,
    settings: {
      from: "Petals <hello@petals.example>",
      host: "127.0.0.1",
      port,
      user: "mailer",
      password_env: "TEST_SMTP_PASSWORD",
      unsubscribe_mailto: "unsubscribe@petals.example",
      ...extra,
    },
  };
}

let nextId = 100;
function message(to: string, over: Partial<OutboundMessage> = {}): OutboundMessage {
  const messageId = String(nextId++);
  const subject = { workspaceId: 7, messageId, customerId: "42", channel: "email" };
  return {
    workspaceId: 7,
    messageId,
    customerId: "42",
    channel: "email",
    kind: "marketing",
    to,
    body: {
      kind: "email",
      subject: "Spring bouquets",
      preheader: "Tulips are back",
      html:
        '<html><body><p>Hello Anna</p><a href="https://shop.example/tulips?a=1&amp;b=2">Tulips</a> ' +
        "<a href='mailto:help@petals.example'>Help</a> <a href=\"/relative\">x</a></body></html>",
      text: "Hello Anna\nTulips: https://shop.example/tulips?a=1&b=2",
    },
    links: messageLinks(BASE, SECRET, subject),
    attempt: 1,
    ...over,
  };
}

const env = { TEST_SMTP_PASSWORD: PASSWORD };
const logLines: string[] = [];
const logger = pino(
  { level: "trace" },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString("utf8"));
      cb();
    },
  }),
);

const smtp = new TestSmtp();
let adapter: SmtpAdapter;

before(async () => {
  await smtp.listen();
  adapter = new SmtpAdapter(channel(smtp.port, { pool: 2 }), { env, logger, random: () => 0.5 });
});
after(async () => {
  await adapter.close();
  await smtp.close();
});

function tokenOf(url: string, path: string): string {
  assert.ok(url.startsWith(`${BASE}/${path}/`), `${url} is a ${path} link`);
  return url.slice(`${BASE}/${path}/`.length);
}

test("a marketing email arrives with both parts, RFC 8058 headers, a stable Message-ID and tracking", async () => {
  const m = message("anna@example.com");
  const result = await adapter.send(m);
  assert.equal(result.status, "sent");
  const got = smtp.received.at(-1);
  assert.ok(got);
  assert.deepEqual(got.recipients, ["anna@example.com"]);
  assert.equal(got.user, "mailer", "the adapter logged in with the password from the environment");
  const mail = await simpleParser(got.raw);

  assert.equal(mail.from?.value[0]?.address, "hello@petals.example");
  assert.equal(mail.from?.value[0]?.name, "Petals");
  assert.equal(mail.subject, "Spring bouquets");
  assert.equal(mail.messageId, `<tact.7.${m.messageId}@petals.example>`);
  assert.equal(result.status === "sent" && result.providerId, mail.messageId);

  const header = (name: string) =>
    mail.headerLines
      .find((h) => h.key === name)
      ?.line.replace(/\r?\n[ \t]+/g, " ")
      .replace(/^[^:]+:\s*/, "");
  assert.equal(header("list-unsubscribe-post"), "List-Unsubscribe=One-Click");
  const listUnsubscribe = header("list-unsubscribe") ?? "";
  const urls = [...listUnsubscribe.matchAll(/<([^>]+)>/g)].map((x) => x[1] ?? "");
  assert.equal(urls.length, 2, listUnsubscribe);
  const unsub = verifyLink(SECRET, tokenOf(urls[0] ?? "", "u"), "unsubscribe");
  assert.ok(unsub.ok);
  assert.equal(unsub.claims.customerId, "42");
  assert.equal(unsub.claims.messageId, m.messageId);
  assert.match(urls[1] ?? "", /^mailto:unsubscribe@petals\.example\?subject=/);

  assert.equal(mail.text?.trim(), "Hello Anna\nTulips: https://shop.example/tulips?a=1&b=2");
  const html = String(mail.html);
  const pixel = html.indexOf(`<img src="${m.links?.openPixel}"`);
  assert.ok(pixel > 0 && pixel < html.indexOf("</body>"), "the open pixel sits just before </body>");
  assert.ok(html.indexOf("Tulips are back") < html.indexOf("Hello Anna"), "the preheader comes first");
  const hrefs = [...html.matchAll(/href=["']([^"']+)["']/g)].map((x) => x[1] ?? "");
  const click = hrefs.find((h) => h.startsWith(`${BASE}/c/`));
  assert.ok(click, `a rewritten link among ${hrefs.join(", ")}`);
  const clicked = verifyLink(SECRET, tokenOf(click, "c"), "click");
  assert.ok(clicked.ok);
  assert.equal(clicked.claims.target, "https://shop.example/tulips?a=1&b=2");
  assert.ok(hrefs.includes("mailto:help@petals.example"), "mailto links are left alone");
  assert.ok(hrefs.includes("/relative"), "relative links are left alone");
  assert.ok(!html.includes('href="https://shop.example'), "no tracked link is left unrewritten");
});

test("a resend of the same message carries the same Message-ID", async () => {
  const m = message("anna@example.com");
  await adapter.send(m);
  await adapter.send({ ...m, attempt: 2 });
  const [a, b] = await Promise.all(smtp.received.slice(-2).map((r) => simpleParser(r.raw)));
  assert.equal(a?.messageId, b?.messageId);
});

test("a 4xx refusal of the recipient is retried, later attempts waiting longer", async () => {
  const delays: number[] = [];
  for (const attempt of [1, 2, 3, 4]) {
    const r = await adapter.send(message("busy@example.com", { attempt }));
    assert.equal(r.status, "retry");
    assert.ok(r.status === "retry");
    assert.match(r.reason, /450/);
    delays.push(r.afterMs);
  }
  for (let i = 1; i < delays.length; i++) {
    assert.ok((delays[i] ?? 0) > (delays[i - 1] ?? 0), `growing delays: ${delays.join(", ")}`);
  }
});

test("retry delays are jittered below an exponential ceiling", async () => {
  const jittered = new SmtpAdapter(channel(smtp.port), { env });
  try {
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const r = await jittered.send(message("busy@example.com", { attempt: 3 }));
      assert.ok(r.status === "retry");
      assert.ok(r.afterMs >= 1_000 && r.afterMs <= 4 * 60_000, `afterMs ${r.afterMs}`);
      seen.add(r.afterMs);
    }
    assert.ok(seen.size > 1, "delays differ between messages");
  } finally {
    await jittered.close();
  }
});

test("an unknown mailbox (5.1.1) fails with invalidAddress; another 5xx fails without it", async () => {
  const unknown = await adapter.send(message("unknown@example.com"));
  assert.deepEqual(
    { status: unknown.status, invalid: unknown.status === "failed" && unknown.invalidAddress },
    { status: "failed", invalid: true },
  );
  assert.ok(unknown.status === "failed" && /550/.test(unknown.reason));
  const policy = await adapter.send(message("policy@example.com"));
  assert.equal(policy.status, "failed");
  assert.ok(policy.status === "failed" && !policy.invalidAddress);
});

test("a closed port is retried, and the same adapter delivers once the server is back", async () => {
  const later = new TestSmtp();
  await later.listen();
  const port = later.port;
  await later.close();
  const a = new SmtpAdapter(channel(port), { env, random: () => 0.5 });
  try {
    const down = await a.send(message("anna@example.com"));
    assert.equal(down.status, "retry");
    assert.ok(down.status === "retry" && down.afterMs > 0 && /ECONNREFUSED|connect/i.test(down.reason));
    const back = new TestSmtp();
    await back.listen(port);
    const up = await a.send(message("anna@example.com", { attempt: 2 }));
    assert.equal(up.status, "sent");
    assert.equal(back.received.length, 1);
    await a.close(); // first, so the server need not wait for the pooled connection to time out
    await back.close();
  } finally {
    await a.close();
  }
});

test("pooled connections are reused across many messages", async () => {
  const pooled = new TestSmtp();
  await pooled.listen();
  const a = new SmtpAdapter(channel(pooled.port, { pool: 2 }), { env });
  try {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => a.send(message(`c${i}@example.com`))),
    );
    assert.ok(results.every((r) => r.status === "sent"));
    assert.equal(pooled.received.length, 20);
    assert.ok(pooled.connections <= 2, `${pooled.connections} connections for 20 messages`);
  } finally {
    await a.close();
    await pooled.close();
  }
});

test("a refused login is retried and its reason carries no password", async () => {
  const wrong = new SmtpAdapter(channel(smtp.port), {
    env: { TEST_SMTP_PASSWORD: `${PASSWORD}-old` },
    logger,
    random: () => 0.5,
  });
  try {
    const r = await wrong.send(message("anna@example.com"));
    assert.equal(r.status, "retry");
    assert.ok(r.status === "retry" && /535/.test(r.reason), r.status === "retry" ? r.reason : "");
    assert.ok(!r.reason.includes(PASSWORD), r.reason);
  } finally {
    await wrong.close();
  }
});

test("the password never appears in the logs", () => {
  const all = logLines.join("");
  assert.ok(logLines.length >= 3, "sends were logged");
  assert.ok(!all.includes(PASSWORD));
  assert.ok(!all.includes(Buffer.from(PASSWORD).toString("base64")));
  assert.ok(!all.includes("anna@example.com"), "nor the recipient's address");
});

test("configuration problems are reported before anything is sent", () => {
  const c = channel(25, { from: "nobody", password_env: "TACT_UNSET_PASSWORD_VAR" });
  const problems = new ChannelRegistry({ env: {} }).check(c);
  assert.deepEqual(problems.map((p) => p.setting).sort(), ["from", "password_env"]);
  assert.deepEqual(new ChannelRegistry({ env }).check(channel(25)), []);
  const sms: Channel = { ...channel(25), provider: "smpp", kind: "sms", settings: {} };
  assert.deepEqual(
    new ChannelRegistry({ env }).check(sms).map((p) => p.setting),
    ["provider"],
  );
});
