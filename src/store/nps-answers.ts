// NPS answers: a score (and an optional comment) for one survey message becomes that message's `nps_response`
// event. One event per message: answering again (another link, a corrected reply, a comment added on the thank-you
// page) updates the event in place, so a customer is never counted twice for one survey. The event goes to the
// engine's inbox when it is new or its score changed, so a trigger such as `nps_response where
// properties.score <= 6` sees the answer that stands; the customer is marked due so `nps` conditions follow.
// Text replies (SMS, Telegram) are matched to the customer's latest survey on that channel.
import { isNpsScore, parseNpsReply } from "../core/nps/index.ts";
import type { Queryable } from "./customers.ts";
import { type Db, withTransaction } from "./db.ts";
import { toInbox } from "./engine-inbox.ts";
import { insertTrackEvent } from "./events.ts";
import { markDue } from "./memberships.ts";
import { lockCustomer } from "./message-feedback.ts";
import { ensureEventPartitions } from "./partitions.ts";

export const NPS_EVENT = "nps_response";
/** Longest comment kept; the form and replies are cut to it. */
export const MAX_NPS_COMMENT = 2000;

export interface NpsAnswer {
  workspaceId: number;
  /** the survey message answered */
  messageId: string;
  /** the customer the survey was sent to; followed through merges */
  customerId: string;
  channel: string;
  score: number;
  /** undefined leaves a comment given earlier as it is */
  comment?: string | null;
  /** how the answer came: `link` (one of the eleven), `form` (the thank-you page), `reply` (a text reply) */
  source: "link" | "form" | "reply";
  at: Date;
}

export type NpsOutcome = "recorded" | "updated" | "unchanged" | "no_customer";

export interface NpsAnswerResult {
  outcome: NpsOutcome;
  /** the customer now holding the answer; undefined when erased */
  customerId: string | undefined;
}

export const npsEventId = (messageId: string) => `tact:nps:${messageId}`;

export async function recordNpsAnswer(db: Db, a: NpsAnswer): Promise<NpsAnswerResult> {
  if (!isNpsScore(a.score)) throw new Error(`an NPS score is a whole number 0–10, got ${a.score}`);
  await ensureEventPartitions(db, [a.at]);
  return withTransaction(db, async (client) => {
    // the row lock serialises two answers to the same survey (a double click): the second sees the first
    const customerId = await lockCustomer(client, a.workspaceId, a.customerId, true);
    if (!customerId) return { outcome: "no_customer", customerId: undefined };
    const eventId = npsEventId(a.messageId);
    const { rows } = await client.query<{ properties: Record<string, unknown> }>(
      `SELECT properties FROM events
        WHERE workspace_id = $1 AND customer_id = $2 AND message_id = $3 AND type = 'track' AND name = $4`,
      [a.workspaceId, customerId, eventId, NPS_EVENT],
    );
    const comment = a.comment === undefined ? undefined : cleanComment(a.comment);
    const before = rows[0]?.properties;
    if (before) {
      const { comment: earlier, ...rest } = before;
      const kept = comment === undefined ? earlier : comment;
      const after: Record<string, unknown> = { ...rest, score: a.score, answered_at: a.at.toISOString() };
      if (kept !== undefined && kept !== null) after.comment = kept;
      if (after.score === before.score && after.comment === earlier)
        return { outcome: "unchanged", customerId };
      const json = JSON.stringify(after);
      await client.query(
        `UPDATE events SET properties = $5::jsonb
          WHERE workspace_id = $1 AND customer_id = $2 AND message_id = $3 AND type = 'track' AND name = $4`,
        [a.workspaceId, customerId, eventId, NPS_EVENT, json],
      );
      await announce(client, a, customerId, eventId, json, after.score !== before.score);
      return { outcome: "updated", customerId };
    }
    const properties = { ...(await messageOf(client, a)), score: a.score, source: a.source };
    const json = JSON.stringify(comment ? { ...properties, comment } : properties);
    await insertTrackEvent(client, a.workspaceId, {
      customerId,
      messageId: eventId,
      name: NPS_EVENT,
      at: a.at,
      propertiesJson: json,
    });
    await announce(client, a, customerId, eventId, json, false);
    return { outcome: "recorded", customerId };
  });
}

function cleanComment(c: string | null): string | null {
  const text = (c ?? "").replace(/\r\n?/g, "\n").trim().slice(0, MAX_NPS_COMMENT);
  return text === "" ? null : text;
}

/** What the event says of the survey it answers: the message, channel, scenario, template and step. */
async function messageOf(client: Queryable, a: NpsAnswer): Promise<Record<string, string>> {
  const { rows } = await client.query<{ scenario: string; template: string; step_id: string }>(
    "SELECT scenario, template, step_id FROM messages WHERE workspace_id = $1 AND message_id = $2",
    [a.workspaceId, a.messageId],
  );
  const m = rows[0];
  const out: Record<string, string> = { message_id: a.messageId, channel: a.channel };
  if (m) Object.assign(out, { scenario: m.scenario, template: m.template, step_id: m.step_id });
  return out;
}

async function announce(
  client: Queryable,
  a: NpsAnswer,
  customerId: string,
  eventId: string,
  json: string,
  inbox: boolean,
): Promise<void> {
  // triggers and waits react to a new answer (handed over with its insert) or a changed score (`inbox`); a comment
  // alone sets nothing off again
  if (inbox)
    await toInbox(client, a.workspaceId, {
      customerId,
      name: NPS_EVENT,
      messageId: eventId,
      at: a.at,
      propertiesJson: json,
    });
  await markDue(client, a.workspaceId, new Map([[customerId, new Set([`event:${NPS_EVENT}`])]]), a.at);
}

export interface NpsReplyInput {
  workspaceId: number;
  customerId: string;
  /** the strategy's channel the reply came through */
  channel: string;
  text: string;
  at: Date;
  /** how old a survey a reply may still answer; default 7 days */
  maxAgeMs?: number;
}

export type NpsReplyResult =
  | ({ ok: true; messageId: string; score: number } & NpsAnswerResult)
  | { ok: false; reason: string };

/**
 * Turns an inbound text reply into an answer to the customer's latest NPS survey sent on that channel within
 * `maxAgeMs`. A reply that is not a score, or with no survey to answer, is refused with the reason (the inbound
 * handler records it as an ordinary `replied` event).
 */
export async function answerFromReply(db: Db, r: NpsReplyInput): Promise<NpsReplyResult> {
  const parsed = parseNpsReply(r.text);
  if (!parsed.ok) return parsed;
  const since = new Date(r.at.getTime() - (r.maxAgeMs ?? 7 * 86_400_000));
  const { rows } = await db.pool.query<{ message_id: string; customer_id: string }>(
    `SELECT message_id, customer_id FROM messages
      WHERE workspace_id = $1 AND customer_id = COALESCE((SELECT into_customer_id FROM customer_merges
                                   WHERE workspace_id = $1 AND from_customer_id = $2), $2)
        AND channel = $3 AND survey = 'nps' AND sent_at IS NOT NULL AND sent_at >= $4 AND sent_at <= $5
      ORDER BY sent_at DESC, message_id DESC LIMIT 1`,
    [r.workspaceId, r.customerId, r.channel, since, r.at],
  );
  const m = rows[0];
  if (!m) return { ok: false, reason: `no NPS survey was sent to this customer on ${r.channel} recently` };
  const answer: NpsAnswer = {
    workspaceId: r.workspaceId,
    messageId: m.message_id,
    customerId: m.customer_id,
    channel: r.channel,
    score: parsed.score,
    source: "reply",
    at: r.at,
  };
  if (parsed.comment !== null) answer.comment = parsed.comment;
  const result = await recordNpsAnswer(db, answer);
  return { ok: true, messageId: m.message_id, score: parsed.score, ...result };
}
