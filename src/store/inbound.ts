// What a customer writes back on a text channel (an SMS reply, a Telegram message), matched to the customer by the
// contact point it came from: on SMS a STOP-family word withdraws the consent to the channel; a reply that starts
// with a score answers the customer's latest NPS survey on the channel; any other text is a `replied` event for
// triggers, conditions and the customer's history. Telegram's `/start` from a start link ties the chat to the
// customer the link was made for. A message the provider delivers twice is recorded once.
import { isStopWord } from "../core/inbound/stop-words.ts";
import { type Db, type Queryable, withTransaction } from "./db.ts";
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
    const properties = { channel: m.channel, source: "reply" };
    const r = await recordInbound(db, m, customerId, "unsubscribed", properties, async (client, id) => {
      await setChannelConsent(client, m.workspaceId, id, m.channel, "unsubscribed", m.at);
      return [];
    });
    return { outcome: r === "recorded" ? "unsubscribed" : "repeated" };
  }
  const reply = { workspaceId: m.workspaceId, customerId, channel: m.channel, text: m.text, at: m.at };
  const answer = await answerFromReply(db, reply);
  if (answer.ok) return { outcome: "answered", score: answer.score };
  const text = m.text.slice(0, MAX_NPS_COMMENT);
  const r = await recordInbound(db, m, customerId, REPLY_EVENT, { channel: m.channel, text });
  return { outcome: r === "recorded" ? "replied" : "repeated" };
}

export interface ChatLink {
  workspaceId: number;
  customerId: string;
  /** the strategy's Telegram channel */
  channel: string;
  chat: string;
  /** Telegram's id of the `/start` message: a delivery repeated records nothing again */
  providerId: string;
  at: Date;
}

/**
 * A Telegram chat tied to a customer by the bot's start link (channels/telegram/start-link.ts): the chat becomes the
 * customer's `telegram_chat_id` (taken from any other customer who held it: a chat is one person's), pressing Start
 * opts the customer in to the channel, and a `subscription_confirmed` event says so for triggers and history.
 */
export async function linkTelegramChat(db: Db, l: ChatLink): Promise<"linked" | "repeated" | "no_customer"> {
  const properties = { channel: l.channel, source: "telegram_start" };
  const r = await recordInbound(
    db,
    l,
    l.customerId,
    "subscription_confirmed",
    properties,
    async (client, id) => {
      const released = await client.query<{ customer_id: string }>(
        `UPDATE customers SET telegram_chat_id = NULL, updated_at = $4
        WHERE workspace_id = $1 AND telegram_chat_id = $2 AND customer_id <> $3 RETURNING customer_id`,
        [l.workspaceId, l.chat, id, l.at],
      );
      await client.query(
        "UPDATE customers SET telegram_chat_id = $3, updated_at = $4 WHERE workspace_id = $1 AND customer_id = $2",
        [l.workspaceId, id, l.chat, l.at],
      );
      await setChannelConsent(client, l.workspaceId, id, l.channel, "opted_in", l.at);
      return released.rows.map((row) => row.customer_id);
    },
  );
  return r === "recorded" ? "linked" : r === "gone" ? "no_customer" : "repeated";
}

/**
 * Writes the event `name` for the customer once per provider message, after `change` (a consent, a chat) in the
 * same transaction; `change` returns the other customers whose profile it changed. "gone": the customer was erased.
 */
async function recordInbound(
  db: Db,
  m: Pick<Inbound, "workspaceId" | "channel" | "providerId" | "at">,
  customer: string,
  name: string,
  properties: Record<string, string>,
  change?: (client: Queryable, customerId: string) => Promise<string[]>,
): Promise<"recorded" | "repeated" | "gone"> {
  await ensureEventPartitions(db, [m.at]);
  return withTransaction(db, async (client) => {
    const customerId = await lockCustomer(client, m.workspaceId, customer, change !== undefined);
    if (!customerId) return "gone";
    const eventId = `tact:inbound:${m.channel}:${m.providerId}`;
    if ((await claimMessageIds(client, m.workspaceId, [eventId], m.at)).size === 0) return "repeated";
    const others = change ? await change(client, customerId) : [];
    const propertiesJson = JSON.stringify(properties);
    await insertTrackEvent(client, m.workspaceId, {
      customerId,
      messageId: eventId,
      name,
      at: m.at,
      propertiesJson,
    });
    const due = new Map<string, Set<string>>(others.map((o) => [o, new Set(["profile"])]));
    due.set(customerId, new Set([`event:${name}`, ...(change ? ["profile"] : [])]));
    await markDue(client, m.workspaceId, due, m.at);
    return "recorded";
  });
}
