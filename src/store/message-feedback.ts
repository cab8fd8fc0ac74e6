// What recipients do with a message, recorded from its signed links: opens and clicks (an event, and the
// message's fate raised to opened/clicked) and unsubscribes (the channel's consent withdrawn, an event, and the
// customer due for membership evaluation so segments and the arbiter see it at once). Also what a channel's
// provider reports later, from the message's signed reference: delivered, or bounced (a hard bounce also marks
// the address undeliverable). And the workspace's link secret, made on first use.
import { createHash, randomBytes } from "node:crypto";
import { markUndeliverable, type Queryable } from "./customers.ts";
import { type Db, withTransaction } from "./db.ts";
import { claimMessageIds, insertTrackEvent } from "./events.ts";
import { markDue } from "./memberships.ts";
import { ensureEventPartitions } from "./partitions.ts";

const secrets = new WeakMap<Db, Map<number, string>>();

/**
 * The workspace's secret for signing links, created on first use (`create: false` only reads it, for checking
 * links: a forged token must not make one). Undefined for an unknown workspace.
 */
export async function linkSecret(
  db: Db,
  workspaceId: number,
  opts: { create?: boolean } = {},
): Promise<string | undefined> {
  let cache = secrets.get(db);
  if (!cache) {
    cache = new Map();
    secrets.set(db, cache);
  }
  const known = cache.get(workspaceId);
  if (known) return known;
  // two processes racing here both read back the one value that won
  if (opts.create !== false) {
    await db.pool.query(
      "UPDATE workspaces SET link_secret = $2 WHERE workspace_id = $1 AND link_secret IS NULL",
      [workspaceId, randomBytes(32).toString("base64url")],
    );
  }
  const { rows } = await db.pool.query<{ link_secret: string | null }>(
    "SELECT link_secret FROM workspaces WHERE workspace_id = $1",
    [workspaceId],
  );
  const secret = rows[0]?.link_secret ?? undefined;
  if (secret) cache.set(workspaceId, secret);
  return secret;
}

export type FeedbackKind = "opened" | "clicked" | "unsubscribed" | "confirmed" | "delivered" | "bounced";

export interface Feedback {
  kind: FeedbackKind;
  workspaceId: number;
  messageId: string;
  /** the customer the link was made for; followed through merges */
  customerId: string;
  channel: string;
  /** clicks: the target */
  url?: string;
  /** bounces: the provider's words, whether the address does not exist, and which address (of which kind) */
  bounce?: { reason: string; hard: boolean; address: string; contact: string };
  at: Date;
}

export interface FeedbackResult {
  /** the customer now holding the recipient's data; undefined when erased */
  customerId: string | undefined;
  /** an event was written (false for a repeated open or click, or an unsubscribe already in force) */
  recorded: boolean;
}

const EVENT_NAME: Record<FeedbackKind, string> = {
  opened: "message_opened",
  clicked: "message_clicked",
  unsubscribed: "unsubscribed",
  confirmed: "subscription_confirmed",
  delivered: "message_delivered",
  bounced: "message_bounced",
};
/** Fates feedback may move a message from: never back from clicked, never over a failure. */
const RAISES_FROM: Record<"opened" | "clicked" | "delivered" | "bounced", string[]> = {
  opened: ["sent", "delivered"],
  clicked: ["sent", "delivered", "opened"],
  delivered: ["sent"],
  bounced: ["sent", "delivered"],
};

export async function recordFeedback(db: Db, f: Feedback): Promise<FeedbackResult> {
  await ensureEventPartitions(db, [f.at]);
  return withTransaction(db, async (client) => {
    const kind = f.kind;
    const consent = kind === "unsubscribed" || kind === "confirmed";
    const customerId = await lockCustomer(client, f.workspaceId, f.customerId, consent);
    if (!customerId) return { customerId: undefined, recorded: false };
    let fresh: boolean;
    if (kind === "unsubscribed" || kind === "confirmed") {
      fresh = await setConsent(client, f, customerId, kind === "confirmed" ? "opted_in" : "unsubscribed");
    } else {
      await client.query(
        `UPDATE messages SET fate = $3, updated_at = $4, reason = COALESCE($6, reason)
          WHERE workspace_id = $1 AND message_id = $2 AND fate = ANY($5::text[])`,
        [f.workspaceId, f.messageId, kind, f.at, RAISES_FROM[kind], f.bounce?.reason ?? null],
      );
      const claimed = await claimMessageIds(client, f.workspaceId, [dedupeKey(f)], f.at);
      fresh = claimed.size > 0;
      if (fresh && f.bounce?.hard) {
        // not tried again while the customer keeps this address (rule 3), as when the server refused it at once
        const { address, contact } = f.bounce;
        await markUndeliverable(
          client,
          [{ ws: f.workspaceId, customer: customerId, message: f.messageId, kind: contact, address }],
          f.at,
        );
      }
    }
    if (fresh) await writeEvent(client, f, customerId);
    return { customerId, recorded: fresh };
  });
}

/**
 * Finds the customer the link was made for, or the one they were merged into, and locks the row so that a
 * merge or erasure waits for this transaction instead of leaving an event behind on a deleted customer.
 */
export async function lockCustomer(
  client: Queryable,
  workspaceId: number,
  customerId: string,
  forUpdate: boolean,
): Promise<string | undefined> {
  // a merge committed while we waited shows on the next look
  for (let look = 0; look < 3; look++) {
    const { rows } = await client.query<{ customer_id: string }>(
      `SELECT customer_id FROM customers
        WHERE workspace_id = $1
          AND customer_id = COALESCE((SELECT into_customer_id FROM customer_merges
                                       WHERE workspace_id = $1 AND from_customer_id = $2), $2)
        ${forUpdate ? "FOR NO KEY UPDATE" : "FOR KEY SHARE"}`,
      [workspaceId, customerId],
    );
    if (rows[0]) return rows[0].customer_id;
  }
  return undefined;
}

/** Sets the channel's consent (withdrawn, or confirmed); false when it already was (nothing to record twice). */
async function setConsent(
  client: Queryable,
  f: Feedback,
  customerId: string,
  state: "opted_in" | "unsubscribed",
): Promise<boolean> {
  if (!(await setChannelConsent(client, f.workspaceId, customerId, f.channel, state, f.at))) return false;
  await markDue(
    client,
    f.workspaceId,
    new Map([[customerId, new Set(["profile", `event:${EVENT_NAME[f.kind]}`])]]),
    f.at,
  );
  return true;
}

/** Writes a customer's consent to a channel, dated; false when it already was that. */
export async function setChannelConsent(
  client: Queryable,
  workspaceId: number,
  customerId: string,
  channel: string,
  state: "opted_in" | "unsubscribed",
  at: Date,
): Promise<boolean> {
  const res = await client.query(
    `UPDATE customers
        SET consents = consents || jsonb_build_object($3::text,
                                    jsonb_build_object('state', $6::text, 'at', $4::text)),
            updated_at = $5
      WHERE workspace_id = $1 AND customer_id = $2
        AND (consents -> $3::text ->> 'state') IS DISTINCT FROM $6::text`,
    [workspaceId, customerId, channel, at.toISOString(), at, state],
  );
  return (res.rowCount ?? 0) > 0;
}

function dedupeKey(f: Feedback): string {
  if (f.kind !== "clicked") return `tact:${f.kind}:${f.messageId}`;
  const url = createHash("sha256")
    .update(f.url ?? "")
    .digest("hex")
    .slice(0, 16);
  return `tact:${f.kind}:${f.messageId}:${url}`;
}

async function writeEvent(client: Queryable, f: Feedback, customerId: string): Promise<void> {
  const { rows } = await client.query<{ scenario: string; template: string; step_id: string }>(
    "SELECT scenario, template, step_id FROM messages WHERE workspace_id = $1 AND message_id = $2",
    [f.workspaceId, f.messageId],
  );
  const m = rows[0];
  const properties: Record<string, string | boolean> = { message_id: f.messageId, channel: f.channel };
  if (m) Object.assign(properties, { scenario: m.scenario, template: m.template, step_id: m.step_id });
  if (f.url) properties.url = f.url;
  if (f.bounce) Object.assign(properties, { reason: f.bounce.reason, hard: f.bounce.hard });
  const name = EVENT_NAME[f.kind];
  const eventId =
    f.kind === "unsubscribed" ? `tact:unsubscribed:${f.messageId}:${f.at.getTime()}` : dedupeKey(f);
  const propertiesJson = JSON.stringify(properties);
  await insertTrackEvent(client, f.workspaceId, {
    customerId,
    messageId: eventId,
    name,
    at: f.at,
    propertiesJson,
  });
  if (f.kind !== "unsubscribed") {
    await markDue(client, f.workspaceId, new Map([[customerId, new Set([`event:${name}`])]]), f.at);
  }
}
