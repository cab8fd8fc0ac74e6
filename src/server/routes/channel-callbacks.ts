// What a channel's provider reports after a send: POST /api/v1/channels/{channel}/callbacks with the workspace's
// write key. The body goes to the channel's adapter as it came (for email, a bounce: the delivery status
// notification the mail system received); the adapter checks the provider's signature where it signs, and says
// what happened. Each event names its message by the signed reference the message carried, checked here against
// the workspace's link secret: nothing is recorded unless every event checks.
import { z } from "zod";
import type { CallbackEvent } from "../../channels/channel.ts";
import { verifyLink } from "../../channels/links.ts";
import { DEFAULT_FACTORIES } from "../../channels/registry.ts";
import type { Clock } from "../../core/clock.ts";
import { StrategyCache } from "../../engine/strategy-cache.ts";
import { normalizeEmail, normalizePhone } from "../../ingest/profile.ts";
import type { Db } from "../../store/db.ts";
import { handleInbound } from "../../store/inbound.ts";
import { type Feedback, linkSecret, recordFeedback } from "../../store/message-feedback.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const MAX_CALLBACK_BYTES = 1024 * 1024;

const callbackResponse = z.object({
  replies: z
    .array(
      z.object({
        from: z.string(),
        outcome: z.enum(["answered", "unsubscribed", "replied", "repeated", "unknown_sender"]),
        score: z.number().int().optional(),
      }),
    )
    .meta({
      description:
        "the customers' messages: an NPS score answered; a STOP word unsubscribed (SMS); other text replied; " +
        "repeated: delivered before; unknown_sender: no customer has this address",
    }),
  events: z.array(
    z.object({
      kind: z.enum(["delivered", "bounced"]),
      message_id: z.string(),
      hard: z.boolean().optional(),
      recorded: z
        .boolean()
        .meta({ description: "false for a report already recorded, or a message no longer sent" }),
    }),
  ),
});

export function registerChannelCallbacks(api: ApiRegistry, db: Db, clock: Clock): void {
  const cache = new StrategyCache();
  api.route(
    {
      method: "POST",
      url: "/api/v1/channels/{channel}/callbacks",
      summary: "A channel's report after a send (for email: a bounce, as the mail system received it)",
      tag: "channels",
      auth: "write",
      params: z.object({ channel: z.string().min(1).max(100) }),
      rawBody: true,
      maxBodyBytes: MAX_CALLBACK_BYTES,
      response: callbackResponse,
    },
    async ({ req, params, principal }) => {
      const workspace = (principal as Principal).workspace;
      const ws = workspace.id;
      const channel = (await cache.current(db.pool, ws))?.strategy.channels[params.channel];
      if (!channel) {
        throw new HttpError(
          404,
          "unknown_channel",
          `params.channel: no channel '${params.channel}' in the strategy in force`,
          "params.channel",
        );
      }
      const adapter = DEFAULT_FACTORIES[channel.provider]?.(channel, { env: process.env });
      let events: CallbackEvent[];
      try {
        if (!adapter?.parseCallback) {
          throw new HttpError(
            404,
            "no_callbacks",
            `params.channel: the ${channel.name} channel (${channel.provider}) takes no callbacks`,
            "params.channel",
          );
        }
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const callback = { headers: req.headers, body, url: req.url };
        if (adapter.verifySignature && !adapter.verifySignature(callback)) {
          throw new HttpError(401, "bad_signature", "the provider's signature does not match", "body");
        }
        const parsed = adapter.parseCallback(callback);
        if (!parsed.ok) throw new HttpError(400, "invalid_callback", `body: ${parsed.reason}`, "body");
        events = parsed.events;
      } finally {
        await adapter?.close();
      }
      const secret = await linkSecret(db, ws, { create: false });
      const at = clock.now();
      const inbound = events.flatMap((e) => (e.kind === "inbound" ? [e] : []));
      if (inbound.length > 0 && channel.contact !== "phone" && channel.contact !== "telegram") {
        throw new HttpError(
          400,
          "invalid_callback",
          `body: the ${channel.name} channel takes no replies`,
          "body",
        );
      }
      const senders = inbound.map((e) => {
        const from =
          channel.contact === "phone" ? normalizePhone(e.from, workspace.settings.default_country) : e.from;
        if (!from)
          throw new HttpError(400, "invalid_callback", `body: '${e.from}' is no phone number`, "body");
        return { e, from };
      });
      const feedback = events.flatMap((e): Feedback[] => {
        if (e.kind === "inbound") return [];
        if (e.kind !== "delivered" && e.kind !== "failed") {
          throw new HttpError(
            400,
            "invalid_callback",
            `body: a ${e.kind} report is not recorded from callbacks`,
            "body",
          );
        }
        const checked = secret
          ? verifyLink(secret, e.reference, "reference")
          : { ok: false as const, reason: "no message was sent from this workspace" };
        if (!checked.ok)
          throw new HttpError(
            400,
            "invalid_reference",
            `body: the message reference: ${checked.reason}`,
            "body",
          );
        const c = checked.claims;
        if (c.workspaceId !== ws || c.channel !== channel.name) {
          throw new HttpError(
            400,
            "invalid_reference",
            `body: the message reference is for another workspace or channel`,
            "body",
          );
        }
        const base = {
          workspaceId: ws,
          messageId: c.messageId,
          customerId: c.customerId,
          channel: c.channel,
          at,
        };
        if (e.kind === "delivered") return [{ ...base, kind: "delivered" }];
        const address = e.address ?? "";
        return [
          {
            ...base,
            kind: "bounced",
            bounce: {
              reason: e.reason,
              hard: e.invalidAddress === true,
              address: channel.contact === "email" ? (normalizeEmail(address) ?? address) : address,
              contact: channel.contact,
            },
          },
        ];
      });
      const out = [];
      for (const f of feedback) {
        const r = await recordFeedback(db, f);
        out.push({
          kind: f.kind as "delivered" | "bounced",
          message_id: f.messageId,
          ...(f.bounce ? { hard: f.bounce.hard } : {}),
          recorded: r.recorded,
        });
      }
      const replies = [];
      for (const { e, from } of senders) {
        const r = await handleInbound(db, {
          workspaceId: ws,
          channel: channel.name,
          contact: channel.contact === "phone" ? "phone" : "telegram",
          from,
          text: e.text,
          providerId: e.id,
          at,
        });
        replies.push({ from, ...r });
      }
      return { replies, events: out };
    },
  );
}
