// The link that ties a Telegram chat to a customer: `https://t.me/BOT?start=PAYLOAD`. Telegram hands the payload
// back as the text `/start PAYLOAD` of the first message the customer's chat sends the bot, and the webhook then
// records that chat as the customer's. Telegram allows 64 characters of A–Z, a–z, 0–9, `_` and `-`, too few for
// a link token (links.ts), so the payload is the customer id in base 36 and 22 characters (132 bits) of an
// HMAC-SHA256 over the workspace, channel and customer with the workspace's link secret: a payload cannot be made
// for another customer, and one made for one bot does not link a chat of another.
import { createHmac, timingSafeEqual } from "node:crypto";

const MAC_CHARS = 22;
const PAYLOAD = /^([0-9a-z]{1,13})-([A-Za-z0-9_-]{22})$/;

function mac(secret: string, workspaceId: number, channel: string, customerId: string): string {
  return createHmac("sha256", secret)
    .update(`telegram-start:${workspaceId}:${channel}:${customerId}`)
    .digest("base64url")
    .slice(0, MAC_CHARS);
}

export function startPayload(
  secret: string,
  workspaceId: number,
  channel: string,
  customerId: string,
): string {
  return `${BigInt(customerId).toString(36)}-${mac(secret, workspaceId, channel, customerId)}`;
}

export function startUrl(botUsername: string, payload: string): string {
  return `https://t.me/${encodeURIComponent(botUsername.replace(/^@/, ""))}?start=${payload}`;
}

/** The customer a payload was made for, or null when it was not made with this secret for this channel. */
export function verifyStartPayload(
  secret: string,
  workspaceId: number,
  channel: string,
  payload: string,
): string | null {
  const m = PAYLOAD.exec(payload);
  if (!m?.[1] || !m[2]) return null;
  let customerId: string;
  try {
    customerId = [...m[1]].reduce((n, d) => n * 36n + BigInt(Number.parseInt(d, 36)), 0n).toString();
  } catch {
    return null;
  }
  const want = Buffer.from(mac(secret, workspaceId, channel, customerId));
  const given = Buffer.from(m[2]);
  return want.length === given.length && timingSafeEqual(want, given) ? customerId : null;
}
