// The channel port: what the engine asks of every channel adapter (email, SMS, Telegram, push, webhook, sink).
// Adapters turn a rendered message into a provider call and map the provider's answer to a result value; the
// engine never looks at provider names or provider errors, only at these values.
import type { Logger } from "pino";
import type { ChannelKind } from "../strategy/types.ts";

export type { ChannelKind } from "../strategy/types.ts";

/** What an adapter is made with besides its channel: the environment its secrets are read from, and so on. */
export interface AdapterDeps {
  env: NodeJS.ProcessEnv;
  logger?: Logger | undefined;
  /** jitter of retry delays; seeded in simulation */
  random?: () => number;
}

/** Something wrong with a channel's settings or environment, found before anything is sent. */
export interface ConfigProblem {
  /** the setting at fault, as written in the strategy (`password_env`, `from`, …) */
  setting: string;
  message: string;
}

/** The rendered body, per channel kind. Email has HTML and text parts; the others send text. */
export type MessageBody =
  | { kind: "email"; subject: string; html: string; text: string; preheader?: string }
  | { kind: "text"; text: string; buttons?: { label: string; url: string }[] };

/**
 * Signed per-recipient links of one message (see links.ts). Absent for messages that carry no tracking or
 * unsubscribe link (transactional mail, previews).
 */
export interface MessageLinks {
  /** public base URL the links live under, without a trailing slash */
  readonly baseUrl: string;
  /** `…/u/TOKEN`: the confirmation page (GET) and the RFC 8058 one-click endpoint (POST) */
  readonly unsubscribe: string;
  /** `…/k/TOKEN`: confirms the subscription to the channel (double opt-in): consent becomes opted_in */
  readonly confirm: string;
  /** `…/o/TOKEN`: the 1×1 open pixel */
  readonly openPixel: string;
  /** `…/c/TOKEN`: a signed redirect to an http(s) target; other targets are returned unchanged */
  click(target: string): string;
  /**
   * A token (no URL) naming this message, for the provider to hand back in its reports: email carries it in the
   * `X-Tact-Ref` header, which a bounce returns. A report that brings it back is believed for this message only.
   */
  readonly reference: string;
}

export interface OutboundMessage {
  workspaceId: number;
  /** the `messages` row's id: the same id on every attempt, so a resend is recognisable */
  messageId: string;
  customerId: string;
  /** the strategy's channel name (`email`, `sms`, …) */
  channel: string;
  /** marketing mail carries List-Unsubscribe; transactional mail may go without links */
  kind: "marketing" | "transactional";
  /** the contact point: an email address, an E.164 phone, a Telegram chat id, a push subscription */
  to: string;
  body: MessageBody;
  /** extra provider headers (email: added as given, after Tact's own) */
  headers?: Readonly<Record<string, string>>;
  links?: MessageLinks;
  /** 1 on the first try; adapters compute their retry delay from it */
  attempt: number;
}

/**
 * What became of one send. `retry` asks the engine to try again after `afterMs` (the engine decides when to give
 * up); `unreachable` says the provider itself could not be reached or refused the channel's login, so the message
 * is not at fault and does not use up its tries; `failed` is final; `invalidAddress` says the contact point itself
 * is bad and should not be tried again.
 */
export type SendResult =
  | { status: "sent"; providerId?: string }
  | { status: "retry"; afterMs: number; reason: string; unreachable?: boolean }
  | { status: "failed"; reason: string; invalidAddress?: boolean };

/** A provider's call to us (delivery receipt, inbound message, bounce), as the HTTP layer received it. */
export interface ProviderCallback {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** the raw body; signatures are computed over bytes, not over a parsed value */
  body: Buffer;
  /** the full URL the provider called, for providers that sign it */
  url?: string;
}

/**
 * What a callback told us, in the engine's terms. A message is named by its `reference` (MessageLinks.reference),
 * returned by the provider: the signature in it is what makes a report about one message believable.
 */
export type CallbackEvent =
  | { kind: "delivered"; reference: string; at?: Date }
  | {
      kind: "failed";
      reference: string;
      reason: string;
      /** the address does not exist: not to be tried again (a hard bounce) */
      invalidAddress?: boolean;
      /** the address the report is about */
      address?: string;
      at?: Date;
    }
  /** a message from the customer; `id` is the provider's, the same when it delivers the message again */
  | { kind: "inbound"; id: string; from: string; text: string; at?: Date }
  | { kind: "unsubscribed"; address: string; at?: Date };

export type ParsedCallback = { ok: true; events: CallbackEvent[] } | { ok: false; reason: string };

export interface ChannelAdapter {
  /** the strategy's channel name */
  readonly name: string;
  readonly kind: ChannelKind;
  /** Settings and environment problems, without contacting the provider. Empty when ready to send. */
  checkConfig(env: NodeJS.ProcessEnv): ConfigProblem[];
  /** Contacts the provider (connect, authenticate) and reports what stops sending; optional. */
  probe?(): Promise<ConfigProblem[]>;
  /** Never throws for a provider's refusal or an outage: those are results. A throw is a bug. */
  send(message: OutboundMessage): Promise<SendResult>;
  /** Checks a callback's signature before anything in it is believed. */
  verifySignature?(callback: ProviderCallback): boolean;
  parseCallback?(callback: ProviderCallback): ParsedCallback;
  /** Releases connections; sends in flight finish first. */
  close(): Promise<void>;
}

export interface BackoffOptions {
  /** the ceiling of the first retry's delay */
  baseMs?: number;
  /** the largest ceiling */
  capMs?: number;
  /** never retry sooner than this */
  floorMs?: number;
}

/**
 * Exponential backoff with full jitter: a delay drawn evenly below min(cap, base·2^(attempt−1)), so that many
 * messages refused at once by a provider do not come back at once. `random` is injected (seeded in simulation).
 */
export function retryDelayMs(attempt: number, random: () => number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? 60_000;
  const cap = opts.capMs ?? 3_600_000;
  const floor = Math.min(opts.floorMs ?? 1_000, cap);
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(cap, base * 2 ** exponent);
  return Math.round(floor + random() * Math.max(0, ceiling - floor));
}

/** The longest wait a provider may ask for (Retry-After, Telegram's retry_after); a longer one is cut to it. */
const MAX_ASKED_DELAY_MS = 6 * 3_600_000;

/** A provider's requested wait as a retry delay: at least a second, at most 6 hours. */
export function askedDelayMs(ms: number): number {
  return Math.min(Math.max(ms, 1_000), MAX_ASKED_DELAY_MS);
}

/** A provider that gave no answer (refused, reset, timed out): retried, and the message not at fault. */
export function unreachable(what: string, err: unknown, afterMs: number): SendResult {
  const e = err as Error;
  const why = e.name === "TimeoutError" ? "timed out" : e.message;
  return { status: "retry", afterMs, reason: `${what} could not be reached: ${why}`, unreachable: true };
}
