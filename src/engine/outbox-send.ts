// Sends queued messages through their channels. A message is claimed and marked `sending` (committed) before the
// provider is called, then marked with the outcome: sent, queued again for a retry with backoff, or failed. A
// marketing message is never handed over in the customer's quiet hours (a retry or a late claim may come due in
// them): it waits for their end without using up a try. The
// provider call is the only step that cannot share a transaction with the database: a worker killed between the
// provider's acceptance and the commit leaves the message `sending`; after the lease it is sent again (at least
// once), with the same Message-ID so the duplicate is recognisable. docs/engine.md explains the trade-off.
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { OutboundMessage, SendResult } from "../channels/channel.ts";
import { messageLinks, npsLinks } from "../channels/links.ts";
import { ChannelRegistry } from "../channels/registry.ts";
import { startPayload, startUrl } from "../channels/telegram/start-link.ts";
import { type ContactKind, type CustomerFacts, contactAddress } from "../core/condition/index.ts";
import { chooseTimeZone, quietPeriodEnd } from "../core/rules/index.ts";
import { markUndeliverable } from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import { linkSecret } from "../store/message-feedback.ts";
import { type ClaimedMessage, claimForSending, recordSends, type SendOutcome } from "../store/messages.ts";
import { loadFacts } from "../store/subjects.ts";
import type { Channel } from "../strategy/types.ts";
import { inLanes } from "./lanes.ts";
import { builtInSurvey } from "./render/nps-survey.ts";
import { type RenderedBody, renderMessage } from "./render/render-message.ts";
import type { RunningStrategy, StrategyCache } from "./strategy-cache.ts";

// Outcomes are written in groups: each write is a commit, and a commit per message cost more than the send. A
// message the provider accepted stays unrecorded for RECORD_WAIT_MS at most before its write starts.
const RECORD_GROUP = 64;
const RECORD_WAIT_MS = 20;
const DAY_MS = 86_400_000;

/** How a message `sending` names the process that holds it (`messages.claimed_by`). */
const PROCESS_ID = `${hostname()}:${process.pid}`;

export interface SenderOptions {
  publicUrl: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** how many messages are in flight at once */
  concurrency?: number;
  /** how many messages are claimed at once */
  batchSize?: number;
  /** a message `sending` for longer than this is considered interrupted and sent again */
  leaseMs?: number;
  /** tries before a message that keeps failing to go out is `failed` */
  maxAttempts?: number;
  /**
   * how long a message is kept while its channel cannot be reached (such tries do not count towards
   * maxAttempts), from its first try; default 5 days, as mail servers keep their queues
   */
  unreachableLifetimeMs?: number;
  /** adapters per workspace (tests and simulation send into sinks) */
  registry?: (workspaceId: number) => ChannelRegistry;
}

export class OutboxSender {
  readonly #registries = new Map<number, ChannelRegistry>();
  readonly #concurrency: number;
  readonly #batch: number;
  readonly #leaseMs: number;
  readonly #maxAttempts: number;
  readonly #unreachableLifetimeMs: number;

  constructor(
    private readonly db: Db,
    private readonly cache: StrategyCache,
    private readonly opts: SenderOptions,
  ) {
    this.#concurrency = opts.concurrency ?? 16;
    this.#batch = opts.batchSize ?? Math.max(200, this.#concurrency * 4);
    this.#leaseMs = opts.leaseMs ?? 5 * 60_000;
    this.#maxAttempts = opts.maxAttempts ?? 8;
    this.#unreachableLifetimeMs = opts.unreachableLifetimeMs ?? 5 * DAY_MS;
  }

  /**
   * Sends every message due at `now`; returns how many were tried. Messages are claimed in batches, and the next
   * batch is claimed and read while the current one is sent, so the channels are not left idle between batches.
   * What sending a batch reads (the customers' rows, the strategy, the link secret) is read once per batch;
   * outcomes are written in groups as they come (see RECORD_GROUP), so a message the provider accepted stays
   * unrecorded only for a moment.
   */
  async runOnce(at: Date | (() => Date)): Promise<number> {
    const now = typeof at === "function" ? at : () => at;
    let total = 0;
    let next = this.#claim(now());
    for (;;) {
      const batch = await next;
      if (!batch) return total;
      // A full batch is likely followed by more. (Should sending fail, what was claimed ahead is sent again after
      // the lease, like any interrupted batch.) A smaller one emptied the queue: look again once it is sent.
      const ahead = batch.claimed.length === this.#batch ? this.#claim(now()) : undefined;
      ahead?.catch(() => undefined);
      total += await this.#send(batch);
      next = ahead ?? this.#claim(now());
    }
  }

  /** A message `sending` since before this at `now` has lost its worker: it is claimed again. */
  leaseBefore(now: Date): Date {
    return new Date(now.getTime() - this.#leaseMs);
  }

  /** Claims one batch of due messages and sends it; returns how many were tried. */
  async batch(now: Date): Promise<number> {
    const batch = await this.#claim(now);
    return batch ? this.#send(batch) : 0;
  }

  async #claim(now: Date): Promise<Batch | undefined> {
    const claimed = await withTransaction(this.db, (c) =>
      claimForSending(c, now, this.leaseBefore(now), this.#batch, PROCESS_ID),
    );
    return claimed.length === 0 ? undefined : this.#prepare(claimed, now);
  }

  async #send(batch: Batch): Promise<number> {
    const now = batch.now;
    const done: Outcome[] = [];
    let wake: (() => void) | undefined;
    let sending = true;
    const recorder = (async () => {
      while (sending || done.length > 0) {
        // a group is written when it is full, when the oldest outcome in it has waited long enough, or at the end
        if (sending && done.length < RECORD_GROUP) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (done.length > 0) setTimeout(resolve, RECORD_WAIT_MS);
          });
        }
        if (done.length > 0) await this.#record(done.splice(0), now);
      }
    })();
    // a failed write is raised below, once the sends in flight are done, never as an unhandled rejection
    recorder.catch(() => undefined);
    await inLanes(batch.claimed, this.#concurrency, async (m) => {
      const result = await this.#attempt(m, batch, now).catch(
        (err: unknown): SendResult => ({
          status: "retry",
          afterMs: 60_000,
          reason: `internal: ${(err as Error).message}`,
        }),
      );
      done.push({ m, result });
      if (done.length === 1 || done.length >= RECORD_GROUP) wake?.();
    });
    sending = false;
    wake?.();
    await recorder;
    return batch.claimed.length;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#registries.values()].map((r) => r.close()));
    this.#registries.clear();
  }

  /** What sending a batch reads, once: the versions in force, the link secrets, the customers' rows. */
  async #prepare(claimed: readonly ClaimedMessage[], now: Date): Promise<Batch> {
    const pool = this.db.pool;
    const batch: Batch = { claimed, now, current: new Map(), secrets: new Map(), facts: new Map() };
    const byWorkspace = new Map<number, Set<string>>();
    for (const m of claimed)
      byWorkspace.set(m.workspace_id, (byWorkspace.get(m.workspace_id) ?? new Set()).add(m.customer_id));
    for (const [ws, ids] of byWorkspace) {
      batch.current.set(ws, await this.cache.current(pool, ws));
      batch.secrets.set(ws, (await linkSecret(this.db, ws, { create: true })) ?? "");
      for (const [id, f] of await loadFacts(pool, ws, [...ids])) batch.facts.set(`${ws}:${id}`, f);
    }
    return batch;
  }

  async #attempt(m: ClaimedMessage, batch: Batch, now: Date): Promise<Attempted> {
    const rs = await this.cache.version(this.db.pool, m.workspace_id, m.version);
    const current = batch.current.get(m.workspace_id) ?? rs;
    const template =
      rs?.strategy.templates[m.template] ?? (m.survey === "nps" ? builtInSurvey(m.template) : undefined);
    // The channel's settings come from the version in force: a changed SMTP server applies to every message.
    const channel = current?.strategy.channels[m.channel] ?? rs?.strategy.channels[m.channel];
    if (!rs || !template || !channel)
      return { status: "failed", reason: "the template or channel no longer exists" };
    const facts = batch.facts.get(`${m.workspace_id}:${m.customer_id}`);
    if (!facts) return { status: "failed", reason: "the customer no longer exists" };
    const to = recipient(channel, facts);
    if (!to) return { status: "failed", reason: `no ${channel.contact} address`, invalidAddress: true };
    const quiet = (current ?? rs).strategy.rules.quietHours;
    if (m.kind === "marketing" && quiet) {
      const zone = chooseTimeZone(facts.timezone, (current ?? rs).strategy.timezone).zone;
      const end = quietPeriodEnd(quiet, now.getTime(), zone);
      if (end !== null)
        return { status: "retry", afterMs: end - now.getTime(), reason: "quiet hours", untried: true };
    }
    const adapter = this.#adapter(m.workspace_id, channel);
    if (!adapter.ok) return { status: "failed", reason: adapter.problems.map((p) => p.message).join("; ") };
    const secret = batch.secrets.get(m.workspace_id) ?? "";
    const linkSubject = {
      workspaceId: m.workspace_id,
      messageId: m.message_id,
      customerId: m.customer_id,
      channel: channel.name,
    };
    const links = messageLinks(this.opts.publicUrl, secret, linkSubject);
    const nps = m.survey === "nps" ? { nps_urls: npsLinks(this.opts.publicUrl, secret, linkSubject) } : {};
    const bot = telegramBot(rs.strategy.channels);
    const telegram = bot
      ? {
          telegram_url: startUrl(
            bot.username,
            startPayload(secret, m.workspace_id, bot.channel, m.customer_id),
          ),
        }
      : {};
    const rendered = await renderMessage({
      template,
      channel,
      customer: facts,
      event: m.trigger_event as never,
      scenario: { name: m.scenario, context: m.context, entered_at: m.entered_at },
      message: {
        id: m.message_id,
        unsubscribe_url: links.unsubscribe,
        confirm_url: links.confirm,
        ...nps,
        ...telegram,
      },
      strategy: { name: rs.strategy.name, currency: rs.strategy.currency, timezone: rs.strategy.timezone },
      now,
    });
    if (!rendered.ok) return { status: "failed", reason: `template: ${rendered.reason}` };
    const message: OutboundMessage = {
      workspaceId: m.workspace_id,
      messageId: m.message_id,
      customerId: m.customer_id,
      channel: channel.name,
      kind: m.kind,
      to,
      body: bodyOf(rendered.body),
      links,
      attempt: m.attempts,
    };
    return {
      ...(await adapter.adapter.send(message)),
      summary: summaryOf(rendered.body),
      contact: { kind: channel.contact, address: to },
    };
  }

  #adapter(ws: number, channel: Channel) {
    let registry = this.#registries.get(ws);
    if (!registry) {
      registry =
        this.opts.registry?.(ws) ??
        new ChannelRegistry({ env: this.opts.env ?? process.env, logger: this.opts.logger });
      this.#registries.set(ws, registry);
    }
    return registry.adapter(channel);
  }

  /** Writes a group of outcomes in one statement: sent, queued again after the backoff, or failed. */
  async #record(outcomes: readonly Outcome[], now: Date): Promise<void> {
    const rows = outcomes.map(({ m, result: r }): SendOutcome => {
      const row = { ws: m.workspace_id, id: m.message_id };
      if (r.status === "sent")
        return {
          ...row,
          fate: "sent",
          provider: r.providerId ?? null,
          summary: r.summary ?? null,
          error: null,
        };
      if (r.status === "failed") return { ...row, fate: "failed", error: r.reason };
      const queued = {
        ...row,
        fate: "queued",
        error: r.reason,
        due: new Date(now.getTime() + r.afterMs),
      } as const;
      if (r.untried) return { ...queued, untried: true };
      if (r.unreachable) {
        const since = now.getTime() - m.first_tried_at.getTime();
        if (since < this.#unreachableLifetimeMs) return queued;
        const days = Math.round((since / DAY_MS) * 10) / 10;
        return { ...row, fate: "failed", error: `gave up after ${days} days unreachable: ${r.reason}` };
      }
      if (m.attempts < this.#maxAttempts) return queued;
      return { ...row, fate: "failed", error: `gave up after ${m.attempts} tries: ${r.reason}` };
    });
    await recordSends(this.db.pool, rows, now);
    // an address the channel says does not exist is not tried again while the customer keeps it (rule 3)
    const bad = outcomes.flatMap(({ m, result: r }) =>
      r.status === "failed" && r.invalidAddress && r.contact
        ? [{ ws: m.workspace_id, customer: m.customer_id, message: m.message_id, ...r.contact }]
        : [],
    );
    if (bad.length > 0) await markUndeliverable(this.db.pool, bad, now);
  }
}

interface Batch {
  claimed: readonly ClaimedMessage[];
  /** when it was claimed: the time its sends are recorded at */
  now: Date;
  current: Map<number, RunningStrategy | null>;
  secrets: Map<number, string>;
  /** by `${workspace}:${customer}` */
  facts: Map<string, CustomerFacts>;
}

/**
 * A send's result, with what the history keeps of the message and the address it went to; `untried`: the
 * provider was not called.
 */
type Attempted = SendResult & {
  summary?: unknown;
  contact?: { kind: ContactKind; address: string };
  untried?: boolean;
};

interface Outcome {
  m: ClaimedMessage;
  result: Attempted;
}

/** The strategy's first Telegram channel with a `bot_username`: the bot `message.telegram_url` starts a chat with. */
function telegramBot(
  channels: Readonly<Record<string, Channel>>,
): { channel: string; username: string } | null {
  for (const c of Object.values(channels)) {
    const username = c.settings.bot_username;
    if (c.provider === "telegram" && typeof username === "string" && username !== "")
      return { channel: c.name, username };
  }
  return null;
}

function recipient(channel: Channel, c: CustomerFacts): string | null {
  return channel.contact === "push" || channel.contact === "none"
    ? c.customer_id
    : contactAddress(c, channel.contact);
}

function bodyOf(b: RenderedBody): OutboundMessage["body"] {
  switch (b.kind) {
    case "email":
      return {
        kind: "email",
        subject: b.subject,
        html: b.html ?? "",
        text: b.text,
        preheader: b.preheader ?? undefined,
      };
    case "telegram":
      return { kind: "text", text: b.text, buttons: b.buttons.map((x) => ({ label: x.text, url: x.url })) };
    case "push":
      return { kind: "text", text: `${b.title}\n${b.body}` };
    case "webhook":
      return { kind: "text", text: JSON.stringify(b.body) };
    case "call":
      return { kind: "text", text: b.script };
    default:
      return { kind: "text", text: b.text };
  }
}

/** What the customer's history shows of a message: its subject or first words, never the whole body. */
function summaryOf(b: RenderedBody): Record<string, string> {
  if (b.kind === "email") return { subject: b.subject };
  if (b.kind === "push") return { title: b.title };
  const text = "text" in b ? b.text : "script" in b ? b.script : "";
  return { text: text.slice(0, 80) };
}
