// Building blocks of the synthetic customer bases: a seeded PRNG, the row shapes the bulk loader writes, and
// a customer "story" that records one person's events in time order while keeping their profile columns
// exactly as ingestion (src/ingest/profile.ts) would compute them from those same events.
import {
  type Batch,
  emptyCustomer,
  type SyntheticCustomer,
  type SyntheticEvent,
} from "../src/store/bulk-load.ts";
import { LOCALES, TIMEZONES } from "./fictional-people.ts";

export type { Batch } from "../src/store/bulk-load.ts";
export type CustomerRow = SyntheticCustomer;
export type EventRow = SyntheticEvent;

export interface GenerateOptions {
  customers: number;
  seed: number;
  /** the moment the base is generated at: every event happened before it */
  now: Date;
  /** how many days of history before `now` (default 365) */
  days?: number;
  /** customers per batch (default 100: small batches die young, which keeps generation fast) */
  batchSize?: number;
}

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** sfc32: a small, fast PRNG with a 128-bit state; the same seed always gives the same sequence. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** a float in [0, 1) */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4_294_967_296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  /** picks by weight: [[item, weight], ...] */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of items) total += w;
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    const last = items[items.length - 1];
    if (!last) throw new Error("pick from an empty list");
    return last[0];
  }

  /** an exponentially distributed duration with the given mean */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** 32 hex digits shaped as a UUID, for anonymous ids */
  uuid(): string {
    const hex = (n: number) =>
      Math.floor(n * 4_294_967_296)
        .toString(16)
        .padStart(8, "0");
    const s = hex(this.next()) + hex(this.next()) + hex(this.next()) + hex(this.next());
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20)}`;
  }
}

/** Unique message ids for one generated base: a prefix naming the base and seed, then a counter. */
export class MessageIds {
  private n = 0;
  private readonly prefix: string;

  constructor(base: string, seed: number) {
    this.prefix = `${base}-${(seed >>> 0).toString(36)}-`;
  }

  next(): string {
    return this.prefix + (this.n++).toString(36);
  }
}

type ConsentValue = "opted_in" | "unsubscribed";

/**
 * One customer's history, recorded in time order. Each event also updates the profile row the way ingestion
 * does: newest contact points, traits merged key by key (newest wins), consents per channel (newest wins),
 * time zone and locale from the newest event's context, orders and revenue from `order_completed` and
 * `order_refunded`, first/last seen and first/last order times. An event after `now` ends the story.
 */
export class CustomerStory {
  readonly row: CustomerRow;
  private readonly context: Record<string, unknown>;
  private lastT = Number.NEGATIVE_INFINITY;
  private ended = false;

  constructor(
    key: number,
    private readonly rng: Rng,
    private readonly ids: MessageIds,
    private readonly events: EventRow[],
    private readonly nowMs: number,
  ) {
    const timezone = rng.weighted(TIMEZONES);
    const locale = rng.weighted(LOCALES);
    this.context = { timezone, locale };
    this.row = emptyCustomer(key);
  }

  /** the time of the last recorded event */
  get time(): number {
    return this.lastT;
  }

  /** true once an event would have happened after `now` */
  get over(): boolean {
    return this.ended;
  }

  /** Records an event at t (moved just after the previous one if earlier); false when past `now`. */
  record(
    type: EventRow["type"],
    name: string | null,
    t: number,
    properties: Record<string, unknown>,
  ): boolean {
    if (this.ended) return false;
    const at = Math.floor(t > this.lastT ? t : this.lastT + 1000 + this.rng.next() * 60_000);
    if (at > this.nowMs) {
      this.ended = true;
      return false;
    }
    this.lastT = at;
    const occurredAt = new Date(at);
    const received = Math.min(at + 200 + Math.floor(this.rng.next() * 2000), this.nowMs);
    this.events.push({
      customerKey: this.row.key,
      messageId: this.ids.next(),
      type,
      name,
      occurredAt,
      receivedAt: new Date(received),
      properties,
      context: this.context,
    });
    const row = this.row;
    if (row.firstSeenAt === null) row.firstSeenAt = occurredAt;
    row.lastSeenAt = occurredAt;
    row.timezone = this.context.timezone as string;
    row.locale = this.context.locale as string;
    return true;
  }

  anonymousId(id: string): void {
    if (!this.row.anonymousIds.includes(id)) this.row.anonymousIds.push(id);
  }

  page(t: number, name: string, properties: Record<string, unknown>): boolean {
    return this.record("page", name, t, properties);
  }

  track(t: number, name: string, properties: Record<string, unknown>): boolean {
    return this.record("track", name, t, properties);
  }

  /** An identify call: `traits` may hold email, phone, telegram_chat_id, preferred_channel, consent. */
  identify(t: number, userId: string, traits: Record<string, unknown>): boolean {
    if (!this.record("identify", null, t, traits)) return false;
    const row = this.row;
    const at = new Date(this.lastT);
    row.userId ??= userId;
    row.traits = { ...row.traits, ...traits };
    row.traitsUpdatedAt = at;
    if (typeof traits.email === "string") row.email = traits.email;
    if (typeof traits.phone === "string") row.phone = traits.phone;
    if (typeof traits.telegram_chat_id === "string") row.telegramChatId = traits.telegram_chat_id;
    if (typeof traits.preferred_channel === "string") row.preferredChannel = traits.preferred_channel;
    const consent = traits.consent as Record<string, ConsentValue> | undefined;
    if (consent) {
      for (const [channel, state] of Object.entries(consent)) {
        row.consents[channel] = { state, at: at.toISOString() };
      }
    }
    return true;
  }

  /** An `order_completed` with an integer revenue (kept exact in the profile). */
  order(t: number, properties: Record<string, unknown> & { revenue: number }): boolean {
    if (!this.record("track", "order_completed", t, properties)) return false;
    const row = this.row;
    const at = new Date(this.lastT);
    row.orders += 1;
    row.revenue += properties.revenue;
    row.firstOrderAt ??= at;
    row.lastOrderAt = at;
    return true;
  }

  refund(t: number, orderId: string, revenue: number): boolean {
    if (!this.record("track", "order_refunded", t, { order_id: orderId, revenue })) return false;
    this.row.revenue -= Math.abs(revenue);
    return true;
  }

  unsubscribe(t: number, channel: string): boolean {
    if (!this.record("track", "unsubscribed", t, { channel })) return false;
    this.row.consents[channel] = { state: "unsubscribed", at: new Date(this.lastT).toISOString() };
    return true;
  }
}

/** When a customer first appears: spread over the window, slightly more recent ones (a growing business). */
export function arrivalTime(rng: Rng, nowMs: number, days: number): number {
  const u = rng.next() ** 0.7; // density grows toward now
  return nowMs - days * DAY_MS + u * days * DAY_MS * 0.98;
}

/** A time of day in daytime hours for the given day start (UTC; the spread covers the customers' zones). */
export function daytime(rng: Rng, dayStartMs: number): number {
  return dayStartMs + (5 + rng.next() * 15) * HOUR_MS;
}

/** Writes one customer's whole story; `arrival` is when they first appear. */
export type CustomerWriter = (story: CustomerStory, rng: Rng, arrival: number) => void;

/** Streams a base of `opts.customers` customers written by `write`, in batches of whole customers. */
export function* generateBase(
  opts: GenerateOptions,
  base: string,
  salt: number,
  write: CustomerWriter,
): Generator<Batch> {
  const days = opts.days ?? 365;
  const batchSize = opts.batchSize ?? 100;
  const nowMs = opts.now.getTime();
  const rng = new Rng((opts.seed ^ salt) >>> 0);
  const ids = new MessageIds(base, opts.seed);
  let batch: Batch = { customers: [], events: [] };
  for (let key = 0; key < opts.customers; key++) {
    const story = new CustomerStory(key, rng, ids, batch.events, nowMs);
    write(story, rng, arrivalTime(rng, nowMs, days));
    batch.customers.push(story.row);
    if (batch.customers.length === batchSize) {
      yield batch;
      batch = { customers: [], events: [] };
    }
  }
  if (batch.customers.length > 0) yield batch;
}
