// A Telegram chat tied to a customer by the bot's start link (channels/telegram/start-link.ts): the chat becomes
// the customer's `telegram_chat_id` (taken from any other customer who held it: a chat is one person's), pressing
// Start opts the customer in to the channel, and a `subscription_confirmed` event says so for triggers and history.
import { type Db, withTransaction } from "./db.ts";
import { claimMessageIds, insertTrackEvent } from "./events.ts";
import { markDue } from "./memberships.ts";
import { lockCustomer, setChannelConsent } from "./message-feedback.ts";
import { ensureEventPartitions } from "./partitions.ts";

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

/** Ties the chat to the customer; "repeated" for an update seen before, "no_customer" when erased meanwhile. */
export async function linkTelegramChat(db: Db, l: ChatLink): Promise<"linked" | "repeated" | "no_customer"> {
  await ensureEventPartitions(db, [l.at]);
  return withTransaction(db, async (client) => {
    const customerId = await lockCustomer(client, l.workspaceId, l.customerId, true);
    if (!customerId) return "no_customer";
    const eventId = `tact:telegram-start:${l.providerId}`;
    if ((await claimMessageIds(client, l.workspaceId, [eventId], l.at)).size === 0) return "repeated";
    const released = await client.query<{ customer_id: string }>(
      `UPDATE customers SET telegram_chat_id = NULL, updated_at = $4
        WHERE workspace_id = $1 AND telegram_chat_id = $2 AND customer_id <> $3 RETURNING customer_id`,
      [l.workspaceId, l.chat, customerId, l.at],
    );
    await client.query(
      "UPDATE customers SET telegram_chat_id = $3, updated_at = $4 WHERE workspace_id = $1 AND customer_id = $2",
      [l.workspaceId, customerId, l.chat, l.at],
    );
    await setChannelConsent(client, l.workspaceId, customerId, l.channel, "opted_in", l.at);
    const json = JSON.stringify({ channel: l.channel, source: "telegram_start" });
    await insertTrackEvent(client, l.workspaceId, {
      customerId,
      messageId: eventId,
      name: "subscription_confirmed",
      at: l.at,
      propertiesJson: json,
    });
    const due = new Map<string, Set<string>>([
      [customerId, new Set(["profile", "event:subscription_confirmed"])],
    ]);
    for (const r of released.rows) due.set(r.customer_id, new Set(["profile"]));
    await markDue(client, l.workspaceId, due, l.at);
    return "linked";
  });
}
