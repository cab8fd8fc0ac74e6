// Email over SMTP: one pooled nodemailer transport per channel, HTML and text parts, RFC 8058 one-click
// List-Unsubscribe with a signed per-recipient URL, a Message-ID derived from the message id, tracking of opens
// and clicks, and SMTP failures as retry/failed results. The password is read from the environment variable the
// settings name; it never reaches a log line or a result's reason.
import nodemailer, { type Transporter } from "nodemailer";
import type SMTPPool from "nodemailer/lib/smtp-pool/index.js";
import type { Logger } from "pino";
import type { Channel, ChannelKind } from "../../strategy/types.ts";
import type {
  AdapterDeps,
  ChannelAdapter,
  ConfigProblem,
  OutboundMessage,
  ParsedCallback,
  ProviderCallback,
  SendResult,
} from "../channel.ts";
import { dsnEvents, REFERENCE_HEADER } from "./dsn.ts";
import { trackedHtml } from "./html-tracking.ts";
import { composeEmail } from "./mime.ts";
import { mapSmtpError } from "./smtp-errors.ts";
import {
  checkSmtpSettings,
  fromDomain,
  readSmtpSettings,
  type SmtpSettings,
  smtpCredentials,
} from "./smtp-settings.ts";

export class SmtpAdapter implements ChannelAdapter {
  readonly name: string;
  readonly kind: ChannelKind;
  readonly settings: SmtpSettings;
  readonly #transport: Transporter<SMTPPool.SentMessageInfo>;
  readonly #secrets: string[];
  readonly #domain: string;
  readonly #logger: Logger | undefined;
  readonly #random: () => number;
  readonly #inFlight = new Set<Promise<SendResult>>();

  constructor(channel: Pick<Channel, "name" | "kind" | "settings">, deps: AdapterDeps) {
    this.name = channel.name;
    this.kind = channel.kind;
    this.settings = readSmtpSettings(channel.settings);
    const s = this.settings;
    const auth = smtpCredentials(s, deps.env);
    this.#secrets = auth ? [auth.pass] : [];
    this.#domain = fromDomain(s.from) ?? "localhost";
    this.#logger = deps.logger?.child({ channel: channel.name });
    this.#random = deps.random ?? Math.random;
    const options: SMTPPool.Options = {
      pool: true,
      host: s.host,
      port: s.port,
      secure: s.secure,
      requireTLS: s.requireTls,
      tls: { rejectUnauthorized: s.rejectUnauthorized },
      maxConnections: s.pool,
      maxMessages: s.maxMessages,
      connectionTimeout: s.connectionTimeoutMs,
      greetingTimeout: s.connectionTimeoutMs,
      socketTimeout: Math.max(60_000, s.connectionTimeoutMs),
      // nodemailer's own logging would print the AUTH exchange; it stays off
      logger: false,
      debug: false,
    };
    if (auth) options.auth = { user: auth.user, pass: auth.pass };
    this.#transport = nodemailer.createTransport(options);
  }

  checkConfig(env: NodeJS.ProcessEnv): ConfigProblem[] {
    return checkSmtpSettings(this.settings, env);
  }

  async probe(): Promise<ConfigProblem[]> {
    try {
      await this.#transport.verify();
      return [];
    } catch (err) {
      const result = mapSmtpError(err, 1, this.#random, this.#secrets);
      const reason = result.status === "sent" ? "" : result.reason;
      return [{ setting: "host", message: `${this.settings.host}:${this.settings.port}: ${reason}` }];
    }
  }

  /** The Message-ID of a message: the same on every attempt, so a resend is recognisable downstream. */
  messageIdOf(m: Pick<OutboundMessage, "workspaceId" | "messageId">): string {
    return `<tact.${m.workspaceId}.${m.messageId}@${this.#domain}>`;
  }

  send(message: OutboundMessage): Promise<SendResult> {
    const p = this.#send(message);
    this.#inFlight.add(p);
    return p.finally(() => this.#inFlight.delete(p));
  }

  async #send(message: OutboundMessage): Promise<SendResult> {
    const body = message.body;
    if (body.kind !== "email") {
      return { status: "failed", reason: `the ${this.name} channel sends email, not a ${body.kind} body` };
    }
    const messageId = this.messageIdOf(message);
    let raw: string;
    try {
      raw = composeEmail({
        from: this.settings.from,
        to: message.to,
        replyTo: this.settings.replyTo,
        subject: body.subject,
        text: body.text,
        html: trackedHtml(body.html, body.preheader, message.links),
        messageId,
        date: new Date(),
        headers: this.#headers(message),
      });
    } catch (err) {
      // a template's header that cannot be written: no attempt will do better
      const result: SendResult = {
        status: "failed",
        reason: err instanceof Error ? err.message : String(err),
      };
      this.#log(message, result);
      return result;
    }
    let result: SendResult;
    try {
      const info = await this.#transport.sendMail({
        raw,
        // no display name or path from the customer's data reaches the envelope
        envelope: { from: this.#envelopeFrom(), to: message.to },
        // both are inside the raw text already; given here, nodemailer draws no random bytes for its own
        messageId,
        baseBoundary: "tact",
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      // with one recipient a refusal is an error; an empty accepted list would be a server's odd answer
      result =
        info.accepted.length > 0
          ? { status: "sent", providerId: messageId }
          : { status: "failed", reason: `the server accepted no recipient: ${info.response}` };
    } catch (err) {
      result = mapSmtpError(err, message.attempt, this.#random, this.#secrets);
    }
    this.#log(message, result);
    return result;
  }

  #envelopeFrom(): string {
    const from = this.settings.from;
    return /<([^>]+)>/.exec(from)?.[1] ?? from;
  }

  /** A bounce (a delivery status notification) as the mail system that received it passes it on. */
  parseCallback(callback: ProviderCallback): ParsedCallback {
    return dsnEvents(callback.body.toString("utf8"));
  }

  #headers(message: OutboundMessage): Record<string, string> {
    const headers: Record<string, string> = {};
    // returned in a bounce's copy of the headers: which message bounced, signed
    if (message.links) headers[REFERENCE_HEADER] = message.links.reference;
    const unsubscribe = message.links?.unsubscribe;
    if (unsubscribe) {
      const mailto = this.settings.unsubscribeMailto;
      const parts = [`<${unsubscribe}>`];
      if (mailto)
        parts.push(`<mailto:${mailto}?subject=unsubscribe-${message.workspaceId}-${message.messageId}>`);
      headers["List-Unsubscribe"] = parts.join(", ");
      headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click";
    }
    for (const [k, v] of Object.entries(message.headers ?? {})) {
      // Tact's own headers are not overridden by a template's
      if (!Object.keys(headers).some((h) => h.toLowerCase() === k.toLowerCase())) headers[k] = v;
    }
    return headers;
  }

  #log(message: OutboundMessage, result: SendResult): void {
    const log = this.#logger;
    if (!log) return;
    // ids and outcome only: no body, reasons already scrubbed of the password and here of addresses too
    const fields = {
      workspaceId: message.workspaceId,
      messageId: message.messageId,
      attempt: message.attempt,
    };
    if (result.status === "sent") {
      log.debug({ ...fields, status: "sent" }, "email sent");
      return;
    }
    const reason = result.reason.replace(/[^\s<>@]+@[^\s<>@]+/g, "[address]");
    if (result.status === "retry") {
      log.warn({ ...fields, status: "retry", afterMs: result.afterMs, reason }, "email deferred");
    } else log.warn({ ...fields, status: "failed", reason }, "email failed");
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
    this.#transport.close();
  }
}
