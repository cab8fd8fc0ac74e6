// One webhook call over HTTP(S): the JSON body, signed Stripe-style with HMAC-SHA256 over "timestamp.body", with a
// delivery id that is the same on every attempt so a receiver can drop a duplicate. The receiver's answer becomes a
// result: 2xx sent; 408, 429, 5xx and no answer at all retried (after the receiver's Retry-After when it gives
// one); any other status failed at once. Redirects are not followed: a signed POST is not re-sent elsewhere.
import { createHmac } from "node:crypto";
import { VERSION } from "../../version.ts";
import { askedDelayMs, retryDelayMs } from "../channel.ts";

export interface WebhookRequest {
  url: string;
  method: "POST" | "PUT";
  /** the JSON text, exactly as signed and sent */
  body: string;
  /** X-Tact-Delivery: the call's id, the same on every attempt */
  deliveryId: string;
  /** the signing secret; null sends the call unsigned */
  secret: string | null;
  /** the attempt's time: X-Tact-Timestamp */
  at: Date;
  /** 1 on the first try */
  attempt: number;
}

/** What came back, or a throw when nothing did (connection refused, reset, DNS, TLS, timeout). */
export interface WebhookResponse {
  status: number;
  retryAfter?: string | null;
  /** the start of the response body, for the call's last_error */
  excerpt?: string;
}

export type WebhookTransport = (req: {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}) => Promise<WebhookResponse>;

export type WebhookResult =
  | { status: "sent"; httpStatus: number }
  | { status: "retry"; afterMs: number; reason: string; httpStatus: number | null }
  | { status: "failed"; reason: string; httpStatus: number | null };

export interface WebhookCallOptions {
  transport?: WebhookTransport;
  /** jitter of retry delays; seeded in simulation */
  random?: () => number;
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
/** Characters of a refusal's body kept as the reason: enough to read the receiver's complaint. */
const EXCERPT_CHARS = 200;

/** `sha256=<hex HMAC-SHA256 of "timestamp.body">`, the X-Tact-Signature header. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export function webhookHeaders(req: WebhookRequest): Record<string, string> {
  const timestamp = Math.floor(req.at.getTime() / 1000);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": `Tact/${VERSION}`,
    "x-tact-delivery": req.deliveryId,
    "x-tact-timestamp": String(timestamp),
    "x-tact-attempt": String(req.attempt),
  };
  if (req.secret !== null) headers["x-tact-signature"] = webhookSignature(req.secret, timestamp, req.body);
  return headers;
}

/** Node's fetch, bounded by the timeout; reads no more of the answer than its first characters. */
export const fetchTransport: WebhookTransport = async (req) => {
  const res = await fetch(req.url, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    redirect: "manual",
    signal: AbortSignal.timeout(req.timeoutMs),
  });
  const excerpt = res.ok ? "" : await readStart(res, EXCERPT_CHARS * 4);
  if (res.ok) await res.body?.cancel().catch(() => undefined);
  return { status: res.status, retryAfter: res.headers.get("retry-after"), excerpt };
};

async function readStart(res: Response, maxBytes: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // a body cut short still leaves its status to go by
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Sends one call and maps the answer to a result; never throws. */
export async function callWebhook(
  req: WebhookRequest,
  opts: WebhookCallOptions = {},
): Promise<WebhookResult> {
  const transport = opts.transport ?? fetchTransport;
  const random = opts.random ?? Math.random;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const backoff = () => retryDelayMs(req.attempt, random);
  const scheme = webhookUrlProblem(req.url);
  if (scheme) return { status: "failed", reason: scheme, httpStatus: null };
  let res: WebhookResponse;
  try {
    res = await transport({
      url: req.url,
      method: req.method,
      headers: webhookHeaders(req),
      body: req.body,
      timeoutMs,
    });
  } catch (err) {
    return { status: "retry", afterMs: backoff(), reason: networkReason(err, timeoutMs), httpStatus: null };
  }
  const s = res.status;
  if (s >= 200 && s < 300) return { status: "sent", httpStatus: s };
  const reason = statusReason(s, res.excerpt);
  if (s === 408 || s === 429 || s >= 500) {
    const asked = retryAfterMs(res.retryAfter ?? null, req.at);
    const afterMs = asked === null ? backoff() : askedDelayMs(asked);
    return { status: "retry", afterMs, reason, httpStatus: s };
  }
  if (s >= 300 && s < 400) {
    return { status: "failed", reason: `${reason} (redirects are not followed)`, httpStatus: s };
  }
  return { status: "failed", reason, httpStatus: s };
}

/** Why a URL cannot be called (not absolute http or https), or null when it can. */
export function webhookUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "url: not an absolute URL";
  }
  return parsed.protocol === "https:" || parsed.protocol === "http:"
    ? null
    : `url: ${parsed.protocol.replace(/:$/, "")} is not http or https`;
}

function statusReason(status: number, excerpt: string | undefined): string {
  const text = (excerpt ?? "").replace(/\s+/g, " ").trim().slice(0, EXCERPT_CHARS);
  return text ? `HTTP ${status}: ${text}` : `HTTP ${status}`;
}

function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  const cause = e?.cause;
  const detail = cause?.code ?? cause?.message ?? e?.message ?? String(err);
  return `no answer: ${String(detail).slice(0, 200)}`;
}

/** Retry-After as seconds or an HTTP date, in milliseconds from `now`; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now: Date): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}
