// What a customer writes back on a text channel (an SMS reply, a Telegram message), matched to the customer by the
// contact point it came from: on SMS a STOP-family word withdraws the consent to the channel; a reply that starts
// with a score answers the customer's latest NPS survey on the channel; any other text is a `replied` event for
// triggers, conditions and the customer's history. A message the provider delivers twice is recorded once.
import { isStopWord } from "../core/inbound/stop-words.ts";
import { type Db, withTransaction } from "./db.ts";
import { claimMessageIds, insertTrackEvent } from "./events.ts";
import { markDue } from "./memberships.ts";
import { lockCustomer, setChannelConsent } from "./message-feedback.ts";
import { answerFromReply, MAX_NPS_COMMENT } from "./nps-answers.ts";
import { ensureEventPartitions } from "./partitions.ts";

export const REPLY_EVENT = "replied";

export interface Inbound {
  workspaceId: number;
  /** the strategy's channel it came on */
  channel: string;
  /** where the customer's address is kept */
  contact: "phone" | "telegram";
  /** the address as stored on profiles (E.164 for phones, the chat id for Telegram) */
  from: string;
  text: string;
  /** the provider's id of the message: a delivery repeated records nothing again */
  providerId: string;
  at: Date;
}

export type InboundOutcome =
  | { outcome: "answered"; score: number }
  | { outcome: "unsubscribed" | "replied" | "repeated" | "unknown_sender" };

const CONTACT_COLUMN = { phone: "phone", telegram: "telegram_chat_id" } as const;

export async function handleInbound(db: Db, m: Inbound): Promise<InboundOutcome> {
  const { rows } = await db.pool.query<{ customer_id: string }>(
    `SELECT customer_id FROM customers WHERE workspace_id = $1 AND ${CONTACT_COLUMN[m.contact]} = $2
      ORDER BY customer_id LIMIT 1`,
    [m.workspaceId, m.from],
  );
  const customerId = rows[0]?.customer_id;
  if (!customerId) return { outcome: "unknown_sender" };
  if (m.contact === "phone" && isStopWord(m.text)) {
    const fresh = await recordInbound(db, m, customerId, "unsubscribed", {
      channel: m.channel,
      source: "reply",
    });
    return { outcome: fresh ? "unsubscribed" : "repeated" };
  }
  const reply = { workspaceId: m.workspaceId, customerId, channel: m.channel, text: m.text, at: m.at };
  const answer = await answerFromReply(db, reply);
  if (answer.ok) return { outcome: "answered", score: answer.score };
  const text = m.text.slice(0, MAX_NPS_COMMENT);
  const fresh = await recordInbound(db, m, customerId, REPLY_EVENT, { channel: m.channel, text });
  return { outcome: fresh ? "replied" : "repeated" };
}

/**
 * Writes the event `name` for the customer once per provider message; an unsubscribe also withdraws the consent.
 * False when the message was recorded before, or the customer is gone.
 */
async function recordInbound(
  db: Db,
  m: Inbound,
  customer: string,
  name: string,
  properties: Record<string, string>,
): Promise<boolean> {
  await ensureEventPartitions(db, [m.at]);
  const unsubscribe = name === "unsubscribed";
  return withTransaction(db, async (client) => {
    const customerId = await lockCustomer(client, m.workspaceId, customer, unsubscribe);
    if (!customerId) return false;
    const eventId = `tact:inbound:${m.channel}:${m.providerId}`;
    if ((await claimMessageIds(client, m.workspaceId, [eventId], m.at)).size === 0) return false;
    if (unsubscribe)
      await setChannelConsent(client, m.workspaceId, customerId, m.channel, "unsubscribed", m.at);
    const propertiesJson = JSON.stringify(properties);
    await insertTrackEvent(client, m.workspaceId, {
      customerId,
      messageId: eventId,
      name,
      at: m.at,
      propertiesJson,
    });
    const due = new Set([`event:${name}`, ...(unsubscribe ? ["profile"] : [])]);
    await markDue(client, m.workspaceId, new Map([[customerId, due]]), m.at);
    return true;
  });
}
