// Telegram end to end against a stand-in for the Bot API that speaks its HTTP API on loopback (Telegram's servers
// cannot be reached from here): a survey goes out as `sendMessage` with eleven answer buttons; the bot's webhook
// takes a reply "9" as the answer, keeps other text as `replied`, refuses an update without the secret
// token; and each of the Bot API's refusals becomes the result the engine expects.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { OutboundMessage } from "../src/channels/channel.ts";
import { startPayload, verifyStartPayload } from "../src/channels/telegram/start-link.ts";
import { keyboard, TelegramAdapter } from "../src/channels/telegram/telegram-adapter.ts";
import { VirtualClock } from "../src/core/clock.ts";
import { basic, engineFixture, post } from "./helpers.ts";
import { httpStub, type Stub } from "./http-stub.ts";

const TOKEN = "123456:test-token";
const SECRET = "webhook-secret-1";
process.env.TACT_TEST_TG_SECRET = SECRET;
const env = { TACT_TEST_TG_TOKEN: TOKEN, TACT_TEST_TG_SECRET: SECRET };

/** The Bot API's methods this channel calls, with answers scripted per chat. */
class BotApi {
  readonly sent: {
    chat_id: string;
    text: string;
    reply_markup?: { inline_keyboard: { text: string; url: string }[][] };
  }[] = [];
  /** chat id → the answer to give instead of success */
  readonly refuse = new Map<string, { status: number; body: unknown }>();
  #stub: Stub | undefined;
  #next = 100;
  url = "";

  async listen(): Promise<void> {
    this.#stub = await httpStub((req, text) => {
      const { status, body } = this.#answer(req.url ?? "", text);
      return { status, body: JSON.stringify(body) };
    });
    this.url = this.#stub.url;
  }

  #answer(url: string, text: string): { status: number; body: unknown } {
    const [, token, method] = /^\/bot([^/]+)\/(\w+)$/.exec(url) ?? [];
    if (token !== TOKEN)
      return { status: 401, body: { ok: false, error_code: 401, description: "Unauthorized" } };
    if (method === "getMe")
      return {
        status: 200,
        body: { ok: true, result: { id: 123456, is_bot: true, username: "school_bot" } },
      };
    if (method !== "sendMessage")
      return { status: 404, body: { ok: false, error_code: 404, description: "Not Found" } };
    const msg = JSON.parse(text);
    const refusal = this.refuse.get(String(msg.chat_id));
    if (refusal) return refusal;
    this.sent.push(msg);
    return {
      status: 200,
      body: {
        ok: true,
        result: { message_id: this.#next++, chat: { id: Number(msg.chat_id) }, text: msg.text },
      },
    };
  }

  close(): Promise<void> {
    return this.#stub?.close() ?? Promise.resolve();
  }
}

const bot = new BotApi();
const clock = new VirtualClock("2026-03-02T10:00:00Z");
const { f, engine } = engineFixture(clock, env, bot);

const strategy = () => `version: 1
name: Evening School
timezone: Europe/Lisbon
currency: EUR
goals:
  heard: { event: nps_response, window: 7d, target: 30% }
  attended: { event: lesson_attended, window: 14d, target: 10% }
channels:
  telegram:
    provider: telegram
    bot_token_env: TACT_TEST_TG_TOKEN
    webhook_secret_env: TACT_TEST_TG_SECRET
    base_url: ${bot.url}
    bot_username: evening_school_bot
rules:
  consent: opt_in
  control_group: 0%
scenarios:
  ask:
    goal: heard
    trigger: { event: order_completed }
    steps:
      - survey: nps
        via: [telegram]
  invite:
    goal: attended
    trigger: { event: course_booked }
    steps:
      - send: invite
        via: [telegram]
templates:
  invite:
    telegram:
      text: "Open this on your phone: {{ message.telegram_url }}"
      buttons: [{ text: "The course plan", url: "https://school.example/plan?week=1" }]
`;

const updatesUrl = (channel = "telegram") =>
  `${f.server.url}/api/v1/workspaces/${f.w.workspace.name}/channels/${channel}/updates`;
const update = (chat: number, text: string, id: number, secret: string | null = SECRET) =>
  post(
    updatesUrl(),
    {
      update_id: id,
      message: { message_id: id, date: 1772445600, chat: { id: chat, type: "private" }, text },
    },
    secret === null ? {} : { "x-telegram-bot-api-secret-token": secret },
  );

async function events(name: string): Promise<{ customer_id: string; properties: Record<string, unknown> }[]> {
  const { rows } = await f.t.db.pool.query(
    "SELECT customer_id, properties FROM events WHERE workspace_id = $1 AND name = $2 ORDER BY occurred_at",
    [f.w.workspace.id, name],
  );
  return rows;
}

test("a survey goes out as sendMessage to the customer's chat, with a button per score", async () => {
  const applied = await post(
    `${f.server.url}/api/v1/strategy`,
    { source: strategy() },
    { authorization: `Bearer ${f.w.adminKey}` },
  );
  assert.equal(applied.status, 201, JSON.stringify(applied.body));
  const tracked = await post(
    `${f.server.url}/v1/batch`,
    {
      batch: [
        {
          type: "identify",
          userId: "ann",
          traits: { telegram_chat_id: 5001, consent: { telegram: "opted_in" } },
        },
        { type: "track", userId: "ann", event: "order_completed", properties: { revenue: 40 } },
      ],
    },
    { authorization: basic(f.w.writeKey) },
  );
  assert.equal(tracked.status, 200, JSON.stringify(tracked.body));
  await engine().runOnce();
  assert.equal(bot.sent.length, 1);
  const sent = bot.sent[0];
  assert.equal(String(sent?.chat_id), "5001");
  assert.match(sent?.text ?? "", /How likely are you to recommend Evening School/);
  const rows = sent?.reply_markup?.inline_keyboard ?? [];
  assert.deepEqual(
    rows.map((r) => r.map((b) => b.text)),
    [
      ["0", "1", "2", "3", "4", "5"],
      ["6", "7", "8", "9", "10"],
    ],
  );
  assert.ok(
    rows.flat().every((b) => b.url.startsWith(`${f.server.url}/n/`)),
    "each button is a signed answer link",
  );
  const { rows: messages } = await f.t.db.pool.query(
    "SELECT fate, provider_id FROM messages WHERE workspace_id = $1 AND channel = 'telegram'",
    [f.w.workspace.id],
  );
  assert.deepEqual(messages, [{ fate: "sent", provider_id: "100" }]);
});

test("a reply with a score answers the survey; other text is kept as replied, once", async () => {
  const answered = await update(5001, "9 lovely flowers", 1);
  assert.equal(answered.status, 200, JSON.stringify(answered.body));
  assert.deepEqual(answered.body, { messages: [{ chat: "5001", outcome: "answered", score: 9 }] });
  const [nps] = await events("nps_response");
  assert.deepEqual(
    [nps?.properties.score, nps?.properties.source, nps?.properties.channel, nps?.properties.comment],
    [9, "reply", "telegram", "lovely flowers"],
  );

  const asked = await update(5001, "When do you open on Sunday?", 2);
  assert.deepEqual(asked.body, { messages: [{ chat: "5001", outcome: "replied" }] });
  const again = await update(5001, "When do you open on Sunday?", 2);
  assert.deepEqual(
    again.body,
    { messages: [{ chat: "5001", outcome: "repeated" }] },
    "Telegram's redelivery",
  );
  const replies = await events("replied");
  assert.deepEqual(
    replies.map((r) => r.properties),
    [{ channel: "telegram", text: "When do you open on Sunday?" }],
  );

  const stranger = await update(777, "9", 3);
  assert.deepEqual(stranger.body, { messages: [{ chat: "777", outcome: "unknown_chat" }] });
  // an update that is no text message (a sticker, an edit) is taken and does nothing
  const sticker = await post(
    updatesUrl(),
    { update_id: 4, message: { message_id: 4, chat: { id: 5001 }, sticker: {} } },
    { "x-telegram-bot-api-secret-token": SECRET },
  );
  assert.deepEqual([sticker.status, sticker.body], [200, { messages: [] }]);
});

test("an update without the secret token, or not from Telegram, is refused and records nothing", async () => {
  const before = (await events("nps_response")).length + (await events("replied")).length;
  const none = await update(5001, "2", 10, null);
  assert.equal(none.status, 401);
  assert.equal(none.body.error.path, "headers.x-telegram-bot-api-secret-token");
  assert.equal((await update(5001, "2", 11, "guess")).status, 401);
  const notJson = await post(updatesUrl(), "not json", {
    "x-telegram-bot-api-secret-token": SECRET,
    "content-type": "application/octet-stream",
  });
  assert.equal(notJson.status, 400);
  const noUpdate = await post(updatesUrl(), { hello: 1 }, { "x-telegram-bot-api-secret-token": SECRET });
  assert.deepEqual([noUpdate.status, noUpdate.body.error.code], [400, "invalid_update"]);
  const elsewhere = await post(
    updatesUrl("sms"),
    { update_id: 1 },
    { "x-telegram-bot-api-secret-token": SECRET },
  );
  assert.equal(elsewhere.status, 404);
  const after = (await events("nps_response")).length + (await events("replied")).length;
  assert.equal(after, before);
  assert.equal((await events("nps_response"))[0]?.properties.score, 9, "the answer stands");
});

test("a start link ties the chat that opens it to its customer, once, and takes the chat from anyone else", async () => {
  const booked = await post(
    `${f.server.url}/v1/track`,
    { userId: "ann", event: "course_booked" },
    { authorization: basic(f.w.writeKey) },
  );
  assert.equal(booked.status, 200, JSON.stringify(booked.body));
  await engine().runOnce();
  // the button is a signed click redirect: a tap is counted, then leads on
  const button = bot.sent.at(-1)?.reply_markup?.inline_keyboard[0]?.[0];
  const redirect = button?.url ?? "";
  assert.ok(redirect.startsWith(`${f.server.url}/c/`), redirect);
  const tap = await fetch(redirect, { redirect: "manual" });
  assert.deepEqual([tap.status, tap.headers.get("location")], [302, "https://school.example/plan?week=1"]);
  assert.deepEqual(
    (await events("message_clicked")).map((e) => [e.properties.channel, e.properties.url]),
    [["telegram", "https://school.example/plan?week=1"]],
  );
  const text = bot.sent.at(-1)?.text ?? "";
  const [, payload] = /https:\/\/t\.me\/evening_school_bot\?start=([A-Za-z0-9_-]+)$/.exec(text) ?? [];
  assert.ok(payload && payload.length <= 64, text);
  // ann opens the link on another phone: chat 6001 becomes hers; the old chat 5001 is no one's
  assert.deepEqual((await update(6001, `/start ${payload}`, 20)).body, {
    messages: [{ chat: "6001", outcome: "linked" }],
  });
  assert.deepEqual((await update(6001, `/start ${payload}`, 20)).body, {
    messages: [{ chat: "6001", outcome: "repeated" }],
  });
  const { rows } = await f.t.db.pool.query(
    `SELECT user_id, telegram_chat_id, consents -> 'telegram' ->> 'state' AS state FROM customers
      WHERE workspace_id = $1 AND user_id = 'ann'`,
    [f.w.workspace.id],
  );
  assert.deepEqual(rows, [{ user_id: "ann", telegram_chat_id: "6001", state: "opted_in" }]);
  const confirmed = await events("subscription_confirmed");
  assert.deepEqual(
    confirmed.map((e) => e.properties),
    [{ channel: "telegram", source: "telegram_start" }],
  );
  assert.deepEqual((await update(5001, "9", 21)).body, {
    messages: [{ chat: "5001", outcome: "unknown_chat" }],
  });
  // a payload changed by one character, or made for another customer by guessing, links nothing
  const forged = `${payload.slice(0, -1)}${payload.endsWith("A") ? "B" : "A"}`;
  assert.deepEqual((await update(7001, `/start ${forged}`, 22)).body, {
    messages: [{ chat: "7001", outcome: "unknown_link" }],
  });
  assert.deepEqual((await update(7001, "/start 1-abc", 23)).body, {
    messages: [{ chat: "7001", outcome: "unknown_link" }],
  });
});

test("start payloads: 64 allowed characters at most, bound to the workspace, channel and customer", () => {
  const p = startPayload("secret", 3, "telegram", "9223372036854775807");
  assert.match(p, /^[A-Za-z0-9_-]{1,64}$/);
  assert.equal(verifyStartPayload("secret", 3, "telegram", p), "9223372036854775807");
  assert.equal(verifyStartPayload("secret", 4, "telegram", p), null);
  assert.equal(verifyStartPayload("secret", 3, "bot2", p), null);
  assert.equal(verifyStartPayload("other", 3, "telegram", p), null);
  assert.equal(verifyStartPayload("secret", 3, "telegram", `x${p}`), null);
  assert.equal(verifyStartPayload("secret", 3, "telegram", "zzzzzzzzzzzzz-aaaaaaaaaaaaaaaaaaaaaa"), null);
});

test("the Bot API's refusals become results: wait and retry, the chat gone, the token refused", async () => {
  const adapter = (token = "TACT_TEST_TG_TOKEN", baseUrl = bot.url) =>
    new TelegramAdapter(
      { name: "telegram", settings: { bot_token_env: token, base_url: baseUrl } },
      { env: { ...env, OTHER: "999:wrong" }, random: () => 0.5 },
    );
  const message = (to: string, text = "Hello"): OutboundMessage => ({
    workspaceId: 1,
    messageId: "1",
    customerId: "1",
    channel: "telegram",
    kind: "marketing",
    to,
    body: { kind: "text", text },
    attempt: 1,
  });
  bot.refuse.set("1", {
    status: 429,
    body: {
      ok: false,
      error_code: 429,
      description: "Too Many Requests: retry after 7",
      parameters: { retry_after: 7 },
    },
  });
  bot.refuse.set("2", {
    status: 403,
    body: { ok: false, error_code: 403, description: "Forbidden: bot was blocked by the user" },
  });
  bot.refuse.set("3", {
    status: 400,
    body: { ok: false, error_code: 400, description: "Bad Request: chat not found" },
  });
  bot.refuse.set("4", { status: 502, body: { ok: false, error_code: 502, description: "Bad Gateway" } });
  bot.refuse.set("5", {
    status: 400,
    body: { ok: false, error_code: 400, description: "Bad Request: can't parse entities" },
  });
  const a = adapter();
  assert.deepEqual(await a.send(message("1")), {
    status: "retry",
    afterMs: 7000,
    reason: "Telegram 429: Too Many Requests: retry after 7",
  });
  assert.deepEqual(await a.send(message("2")), {
    status: "failed",
    reason: "Telegram 403: Forbidden: bot was blocked by the user",
    invalidAddress: true,
  });
  assert.deepEqual(await a.send(message("3")), {
    status: "failed",
    reason: "Telegram 400: Bad Request: chat not found",
    invalidAddress: true,
  });
  const gateway = await a.send(message("4"));
  assert.equal(gateway.status, "retry");
  assert.equal((gateway as { unreachable?: boolean }).unreachable, undefined, "the message's try counts");
  assert.deepEqual(await a.send(message("5")), {
    status: "failed",
    reason: "Telegram 400: Bad Request: can't parse entities",
  });
  assert.deepEqual(await a.send(message("6", "x".repeat(4097))), {
    status: "failed",
    reason: "the text is 4097 characters; Telegram takes at most 4096",
  });
  // a wrong token: the channel's login refused, not the message's fault
  const wrong = await adapter("OTHER").send(message("6"));
  assert.deepEqual([wrong.status, (wrong as { unreachable?: boolean }).unreachable], ["retry", true]);
  const down = await adapter("TACT_TEST_TG_TOKEN", "http://127.0.0.1:9").send(message("6"));
  assert.deepEqual([down.status, (down as { unreachable?: boolean }).unreachable], ["retry", true]);

  assert.deepEqual(await a.probe(), []);
  assert.match((await adapter("OTHER").probe())[0]?.message ?? "", /refused the token: Telegram 401/);
  assert.deepEqual(adapter("MISSING").checkConfig({}), [
    { setting: "bot_token_env", message: "MISSING is not set" },
  ]);
});

test("buttons: short labels six to a row, long ones alone", () => {
  const b = (label: string) => ({ label, url: `https://example.com/${label}` });
  assert.deepEqual(
    keyboard([b("Yes"), b("No"), b("Read the course plan"), b("1")]).map((r) => r.map((x) => x.text)),
    [["Yes", "No"], ["Read the course plan"], ["1"]],
  );
});
