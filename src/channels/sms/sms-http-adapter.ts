// SMS through an HTTP gateway: one JSON POST per message to the gateway's URL, and the gateway's reports (delivery
// receipts and the customers' replies) back to Tact's channel callbacks. The contract is Tact's own, small enough
// for any gateway or a few lines of glue (docs/channels.md, "SMS over an HTTP gateway"); the gateway splits a long
// text into concatenated parts. The token the gateway expects is read from the variable `token_env` names.
import type { Channel, ChannelKind } from "../../strategy/types.ts";
import {
  type AdapterDeps,
  askedDelayMs,
  type CallbackEvent,
  type ChannelAdapter,
  type ConfigProblem,
  type OutboundMessage,
  type ParsedCallback,
  type ProviderCallback,
  retryDelayMs,
  type SendResult,
  unreachable,
} from "../channel.ts";
import { retryAfterMs } from "../webhook/webhook-http.ts";

const TIMEOUT_MS = 10_000;
/** The longest text sent: ten concatenated parts of 153 GSM characters. */
export const MAX_SMS_TEXT = 1530;
/** Characters of a refusal's body kept as the reason. */
const EXCERPT_CHARS = 200;

export class SmsHttpAdapter implements ChannelAdapter {
  readonly name: string;
  readonly kind: ChannelKind = "sms";
  readonly #url: string;
  readonly #sender: string | null;
  readonly #tokenEnv: string | undefined;
  readonly #env: NodeJS.ProcessEnv;
  readonly #random: () => number;

  constructor(channel: Pick<Channel, "name" | "settings">, deps: AdapterDeps) {
    const s = channel.settings;
    this.name = channel.name;
    this.#url = typeof s.url === "string" ? s.url : "";
    this.#sender = typeof s.sender === "string" || typeof s.sender === "number" ? String(s.sender) : null;
    this.#tokenEnv = typeof s.token_env === "string" ? s.token_env : undefined;
    this.#env = deps.env;
    this.#random = deps.random ?? Math.random;
  }

  checkConfig(env: NodeJS.ProcessEnv): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    if (!/^https?:\/\//.test(this.#url))
      problems.push({ setting: "url", message: "an http(s) URL is required" });
    if (this.#tokenEnv && !env[this.#tokenEnv])
      problems.push({ setting: "token_env", message: `${this.#tokenEnv} is not set` });
    return problems;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const backoff = () => retryDelayMs(message.attempt, this.#random);
    const text = message.body.text;
    if (text.length > MAX_SMS_TEXT)
      return {
        status: "failed",
        reason: `the text is ${text.length} characters; at most ${MAX_SMS_TEXT} are sent`,
      };
    const headers: Record<string, string> = { "content-type": "application/json" };
    const token = this.#tokenEnv ? this.#env[this.#tokenEnv] : undefined;
    if (this.#tokenEnv && !token)
      return {
        status: "retry",
        afterMs: backoff(),
        reason: `${this.#tokenEnv} is not set`,
        unreachable: true,
      };
    if (token) headers.authorization = `Bearer ${token}`;
    const body = {
      message_id: message.messageId,
      to: message.to,
      from: this.#sender,
      text,
      // handed back in delivery receipts: the signature in it makes a receipt believable for this message only
      reference: message.links?.reference ?? null,
    };
    let res: Response;
    try {
      res = await fetch(this.#url, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      return unreachable("the gateway", err, backoff());
    }
    const raw = await res.text().catch(() => "");
    let answer: { id?: unknown; error?: unknown } = {};
    try {
      answer = JSON.parse(raw) as typeof answer;
    } catch {
      // a body that is no JSON still has its status to go by
    }
    const s = res.status;
    if (s >= 200 && s < 300)
      return { status: "sent", ...(typeof answer.id === "string" ? { providerId: answer.id } : {}) };
    const reason = `gateway ${s}: ${typeof answer.error === "string" ? answer.error : raw.slice(0, EXCERPT_CHARS)}`;
    if (s === 408 || s === 429 || s >= 500) {
      const asked = retryAfterMs(res.headers.get("retry-after"), new Date());
      const afterMs = asked === null ? backoff() : askedDelayMs(asked);
      return { status: "retry", afterMs, reason };
    }
    // the gateway refused our login: the channel is at fault, not the message
    if (s === 401 || s === 403) return { status: "retry", afterMs: backoff(), reason, unreachable: true };
    return {
      status: "failed",
      reason,
      ...(answer.error === "invalid_number" ? { invalidAddress: true } : {}),
    };
  }

  /**
   * `{"events": [...]}` (or one event alone): `{"type": "delivery", "reference", "status": "delivered" | "failed",
   * "reason"?, "permanent"?}` and `{"type": "inbound", "id", "from", "text"}`.
   */
  parseCallback(callback: ProviderCallback): ParsedCallback {
    let body: unknown;
    try {
      body = JSON.parse(callback.body.toString("utf8"));
    } catch {
      return { ok: false, reason: "not JSON" };
    }
    const list =
      body && typeof body === "object" && "events" in body ? (body as { events: unknown }).events : [body];
    if (!Array.isArray(list) || list.length === 0 || list.length > 1000)
      return { ok: false, reason: "events: a list of 1 to 1,000 events is expected" };
    const events: CallbackEvent[] = [];
    for (const [i, e] of list.entries()) {
      const parsed = parseEvent(e);
      if (typeof parsed === "string") return { ok: false, reason: `events[${i}]: ${parsed}` };
      events.push(parsed);
    }
    return { ok: true, events };
  }

  async close(): Promise<void> {}
}

function parseEvent(e: unknown): CallbackEvent | string {
  if (!e || typeof e !== "object") return "not an object";
  const o = e as Record<string, unknown>;
  const str = (k: string, max: number): string | null =>
    typeof o[k] === "string" && (o[k] as string).length > 0 && (o[k] as string).length <= max
      ? (o[k] as string)
      : null;
  if (o.type === "delivery") {
    const reference = str("reference", 4096);
    if (!reference) return "reference: the message's reference, as Tact sent it, is required";
    if (o.status === "delivered") return { kind: "delivered", reference };
    if (o.status !== "failed") return "status: 'delivered' or 'failed'";
    return {
      kind: "failed",
      reference,
      reason: str("reason", 500) ?? "not delivered",
      ...(o.permanent === true ? { invalidAddress: true } : {}),
    };
  }
  if (o.type === "inbound") {
    const id = str("id", 200);
    const from = str("from", 32);
    const text = typeof o.text === "string" ? o.text : null;
    if (!id) return "id: the gateway's id of the message is required";
    if (!from) return "from: the sender's number is required";
    if (text === null) return "text: required";
    return { kind: "inbound", id, from, text };
  }
  return "type: 'delivery' or 'inbound'";
}
