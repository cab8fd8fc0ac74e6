// Telegram through the Bot API: a message is `sendMessage` to the customer's chat, its buttons an inline keyboard of
// URL buttons; the chat's messages to the bot come back as updates to a webhook that Telegram signs with the
// secret token given at `setWebhook` (X-Telegram-Bot-Api-Secret-Token). The bot token and the secret are read
// from the environment variables the strategy names, never written in it, never logged.
// https://core.telegram.org/bots/api
import { timingSafeEqual } from "node:crypto";
import type { Channel, ChannelKind } from "../../strategy/types.ts";
import {
  type AdapterDeps,
  askedDelayMs,
  type CallbackEvent,
  type ChannelAdapter,
  type ConfigProblem,
  type MessageLinks,
  type OutboundMessage,
  type ParsedCallback,
  type ProviderCallback,
  retryDelayMs,
  type SendResult,
  unreachable,
} from "../channel.ts";

export const TELEGRAM_API = "https://api.telegram.org";
/** The Bot API's limit on a message's text. */
export const MAX_TEXT = 4096;
const TIMEOUT_MS = 10_000;
/** Short labels (a score, "Yes") share a row of the keyboard; longer ones get a row each. */
const SHORT_LABEL = 3;
const SHORT_PER_ROW = 6;
export const SECRET_HEADER = "x-telegram-bot-api-secret-token";

interface Settings {
  tokenEnv: string | undefined;
  secretEnv: string | undefined;
  baseUrl: string;
}

/** The Bot API's answer: `ok` with a result, or an error code and description (and how long to wait after 429). */
interface ApiAnswer {
  ok?: unknown;
  result?: { message_id?: unknown };
  error_code?: unknown;
  description?: unknown;
  parameters?: { retry_after?: unknown };
}

export class TelegramAdapter implements ChannelAdapter {
  readonly name: string;
  readonly kind: ChannelKind = "telegram";
  readonly #settings: Settings;
  readonly #env: NodeJS.ProcessEnv;
  readonly #random: () => number;

  constructor(channel: Pick<Channel, "name" | "settings">, deps: AdapterDeps) {
    this.name = channel.name;
    const s = channel.settings;
    this.#settings = {
      tokenEnv: typeof s.bot_token_env === "string" ? s.bot_token_env : undefined,
      secretEnv: typeof s.webhook_secret_env === "string" ? s.webhook_secret_env : undefined,
      baseUrl: (typeof s.base_url === "string" ? s.base_url : TELEGRAM_API).replace(/\/+$/, ""),
    };
    this.#env = deps.env;
    this.#random = deps.random ?? Math.random;
  }

  checkConfig(env: NodeJS.ProcessEnv): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const { tokenEnv, secretEnv } = this.#settings;
    if (!tokenEnv)
      problems.push({ setting: "bot_token_env", message: "name the variable holding the bot token" });
    else if (!env[tokenEnv]) problems.push({ setting: "bot_token_env", message: `${tokenEnv} is not set` });
    if (secretEnv && !env[secretEnv])
      problems.push({ setting: "webhook_secret_env", message: `${secretEnv} is not set` });
    return problems;
  }

  /** `getMe`: the token is the bot's. */
  async probe(): Promise<ConfigProblem[]> {
    const token = this.#token();
    if (!token) return this.checkConfig(this.#env);
    try {
      const res = await fetch(this.#method(token, "getMe"), { signal: AbortSignal.timeout(TIMEOUT_MS) });
      const answer = (await res.json().catch(() => ({}))) as ApiAnswer;
      if (res.ok && answer.ok === true) return [];
      return [
        {
          setting: "bot_token_env",
          message: `the Bot API refused the token: ${describe(res.status, answer)}`,
        },
      ];
    } catch (err) {
      return [
        { setting: "base_url", message: `the Bot API could not be reached: ${(err as Error).message}` },
      ];
    }
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const token = this.#token();
    if (!token) {
      return { status: "retry", afterMs: this.#backoff(message), reason: "no bot token", unreachable: true };
    }
    const body = message.body;
    const text = body.text;
    if (text.length > MAX_TEXT) {
      return {
        status: "failed",
        reason: `the text is ${text.length} characters; Telegram takes at most ${MAX_TEXT}`,
      };
    }
    const request: Record<string, unknown> = { chat_id: message.to, text };
    const buttons = body.kind === "text" ? (body.buttons ?? []) : [];
    if (buttons.length > 0)
      request.reply_markup = { inline_keyboard: keyboard(buttons.map((b) => tracked(b, message.links))) };
    let res: Response;
    let answer: ApiAnswer;
    try {
      res = await fetch(this.#method(token, "sendMessage"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      answer = (await res.json().catch(() => ({}))) as ApiAnswer;
    } catch (err) {
      return unreachable("the Bot API", err, this.#backoff(message));
    }
    return this.#result(message, res.status, answer);
  }

  #result(message: OutboundMessage, status: number, answer: ApiAnswer): SendResult {
    if (status >= 200 && status < 300 && answer.ok === true) {
      const id = answer.result?.message_id;
      return { status: "sent", ...(id !== undefined ? { providerId: String(id) } : {}) };
    }
    const reason = describe(status, answer);
    if (status === 429) {
      const after = Number(answer.parameters?.retry_after);
      const afterMs =
        Number.isFinite(after) && after > 0 ? askedDelayMs(after * 1000) : this.#backoff(message);
      return { status: "retry", afterMs, reason };
    }
    // a wrong token is the channel's login refused, not the message's fault
    if (status === 401 || status === 404) {
      return { status: "retry", afterMs: this.#backoff(message), reason, unreachable: true };
    }
    if (status >= 500) return { status: "retry", afterMs: this.#backoff(message), reason };
    // 403: the customer blocked the bot or deleted their account; 400 "chat not found": a chat that is no more
    const gone = status === 403 || /chat not found|user not found|chat_id is empty/i.test(reason);
    return { status: "failed", reason, ...(gone ? { invalidAddress: true } : {}) };
  }

  /** The secret token Telegram sends with each update, compared in constant time; no secret set, no update taken. */
  verifySignature(callback: ProviderCallback): boolean {
    const secret = this.#settings.secretEnv ? this.#env[this.#settings.secretEnv] : undefined;
    const given = callback.headers[SECRET_HEADER];
    if (!secret || typeof given !== "string") return false;
    const a = Buffer.from(given);
    const b = Buffer.from(secret);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** An update: a text message from a chat is an inbound reply; anything else (edits, joins, stickers) is none. */
  parseCallback(callback: ProviderCallback): ParsedCallback {
    let update: unknown;
    try {
      update = JSON.parse(callback.body.toString("utf8"));
    } catch {
      return { ok: false, reason: "not JSON" };
    }
    if (
      !update ||
      typeof update !== "object" ||
      typeof (update as { update_id?: unknown }).update_id !== "number"
    )
      return { ok: false, reason: "not a Telegram update (no update_id)" };
    const u = update as { update_id: number; message?: unknown };
    const m = u.message as
      | { message_id?: unknown; chat?: { id?: unknown }; text?: unknown; date?: unknown }
      | undefined;
    const chat = m?.chat?.id;
    if (!m || typeof m.text !== "string" || (typeof chat !== "number" && typeof chat !== "string"))
      return { ok: true, events: [] };
    const event: CallbackEvent = {
      kind: "inbound",
      id: `${chat}:${String(m.message_id ?? u.update_id)}`,
      from: String(chat),
      text: m.text,
      ...(typeof m.date === "number" ? { at: new Date(m.date * 1000) } : {}),
    };
    return { ok: true, events: [event] };
  }

  async close(): Promise<void> {}

  #token(): string | undefined {
    return this.#settings.tokenEnv ? this.#env[this.#settings.tokenEnv] || undefined : undefined;
  }

  #method(token: string, method: string): string {
    return `${this.#settings.baseUrl}/bot${token}/${method}`;
  }

  #backoff(message: OutboundMessage): number {
    return retryDelayMs(message.attempt, this.#random);
  }
}

/**
 * A button's link as a signed click redirect, as in email, so a tap is a `message_clicked`; links into Tact itself
 * (the NPS answers, which record themselves) and anything but http(s) are left as they are.
 */
function tracked(
  b: { label: string; url: string },
  links: MessageLinks | undefined,
): { label: string; url: string } {
  if (!links || !/^https?:\/\//i.test(b.url) || b.url.startsWith(`${links.baseUrl}/`)) return b;
  return { label: b.label, url: links.click(b.url) };
}

/** The buttons as rows of an inline keyboard: short labels six to a row (a 0–10 scale: 6 and 5), others alone. */
export function keyboard(
  buttons: readonly { label: string; url: string }[],
): { text: string; url: string }[][] {
  const rows: { text: string; url: string }[][] = [];
  let row: { text: string; url: string }[] = [];
  for (const b of buttons) {
    const button = { text: b.label, url: b.url };
    if (b.label.length > SHORT_LABEL) {
      if (row.length > 0) rows.push(row);
      rows.push([button]);
      row = [];
      continue;
    }
    row.push(button);
    if (row.length === SHORT_PER_ROW) {
      rows.push(row);
      row = [];
    }
  }
  if (row.length > 0) rows.push(row);
  return rows;
}

function describe(status: number, answer: ApiAnswer): string {
  const text = typeof answer.description === "string" ? answer.description : "no description";
  return `Telegram ${typeof answer.error_code === "number" ? answer.error_code : status}: ${text}`;
}
