// Telegram's webhook: POST /api/v1/workspaces/{workspace}/channels/{channel}/updates, the URL given to the Bot API's
// `setWebhook` with the channel's secret token. Telegram signs nothing else, so the secret token
// (X-Telegram-Bot-Api-Secret-Token, checked by the adapter) is the only credential: without it set on the channel
// no update is taken. `/start PAYLOAD` from a start link (channels/telegram/start-link.ts) ties the chat to the
// customer the link was made for. Other text is matched to the customer holding that chat: a score answers their
// latest NPS survey sent on the channel; any other text is recorded as a `replied` event. A verified update is always
// answered 200, even when it names no customer, so that Telegram does not deliver it again and again.
import { z } from "zod";
import { DEFAULT_FACTORIES } from "../../channels/registry.ts";
import { verifyStartPayload } from "../../channels/telegram/start-link.ts";
import type { Clock } from "../../core/clock.ts";
import { StrategyCache } from "../../engine/strategy-cache.ts";
import type { Db } from "../../store/db.ts";
import { handleInbound, linkTelegramChat } from "../../store/inbound.ts";
import { linkSecret } from "../../store/message-feedback.ts";

import { findWorkspace } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const MAX_UPDATE_BYTES = 256 * 1024;
/** `/start PAYLOAD`, the message a start link makes the customer's chat send (`/start@bot` in groups) */
const START = /^\/start(?:@\w+)?\s+(\S+)\s*$/;

const updateResponse = z.object({
  messages: z.array(
    z.object({
      chat: z.string(),
      outcome: z
        .enum(["linked", "answered", "unsubscribed", "replied", "repeated", "unknown_link", "unknown_chat"])
        .meta({
          description:
            "linked: a start link tied the chat to its customer; answered: an NPS score; unsubscribed: a STOP " +
            "word (SMS channels only, so never here); replied: recorded as " +
            "replied; repeated: delivered before; unknown_link: a start payload this workspace did not make; " +
            "unknown_chat: no customer has this chat",
        }),
      score: z.number().int().optional(),
    }),
  ),
});

export function registerTelegramUpdates(api: ApiRegistry, db: Db, clock: Clock): void {
  const cache = new StrategyCache();
  api.route(
    {
      method: "POST",
      url: "/api/v1/workspaces/{workspace}/channels/{channel}/updates",
      summary: "Telegram's webhook: the bot's updates, authenticated by the channel's secret token",
      tag: "channels",
      auth: "none",
      params: z.object({ workspace: z.string().min(1).max(100), channel: z.string().min(1).max(100) }),
      rawBody: true,
      maxBodyBytes: MAX_UPDATE_BYTES,
      response: updateResponse,
    },
    async ({ req, params }) => {
      const ws = await findWorkspace(db, params.workspace);
      const channel = ws && (await cache.current(db.pool, ws.id))?.strategy.channels[params.channel];
      // one answer for both, so the URL does not tell which workspaces exist
      if (!ws || !channel || channel.provider !== "telegram") {
        throw new HttpError(
          404,
          "unknown_channel",
          "params.channel: no Telegram channel of that name in that workspace's strategy in force",
          "params.channel",
        );
      }
      const adapter = DEFAULT_FACTORIES.telegram?.(channel, { env: process.env });
      if (!adapter?.verifySignature || !adapter.parseCallback)
        throw new Error("the Telegram adapter takes no updates");
      const callback = { headers: req.headers, body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0) };
      if (!adapter.verifySignature(callback)) {
        throw new HttpError(
          401,
          "bad_signature",
          "X-Telegram-Bot-Api-Secret-Token does not match the channel's webhook_secret_env (or it is not set)",
          "headers.x-telegram-bot-api-secret-token",
        );
      }
      const parsed = adapter.parseCallback(callback);
      if (!parsed.ok) throw new HttpError(400, "invalid_update", `body: ${parsed.reason}`, "body");
      const messages: z.infer<typeof updateResponse>["messages"] = [];
      for (const e of parsed.events) {
        if (e.kind !== "inbound") continue;
        const start = START.exec(e.text);
        if (start?.[1]) {
          const secret = await linkSecret(db, ws.id, { create: false });
          const customerId = secret && verifyStartPayload(secret, ws.id, channel.name, start[1]);
          const linked = customerId
            ? await linkTelegramChat(db, {
                workspaceId: ws.id,
                customerId,
                channel: channel.name,
                chat: e.from,
                providerId: e.id,
                at: clock.now(),
              })
            : "no_customer";
          messages.push({ chat: e.from, outcome: linked === "no_customer" ? "unknown_link" : linked });
          continue;
        }
        const r = await handleInbound(db, {
          workspaceId: ws.id,
          channel: channel.name,
          contact: "telegram",
          from: e.from,
          text: e.text,
          providerId: e.id,
          at: clock.now(),
        });
        messages.push({
          chat: e.from,
          outcome: r.outcome === "unknown_sender" ? "unknown_chat" : r.outcome,
          ...(r.outcome === "answered" ? { score: r.score } : {}),
        });
      }
      return { messages };
    },
  );
}
