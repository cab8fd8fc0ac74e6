// Attribution of a conversion's revenue to the messages that touched the customer before it (SPEC §7): which
// interactions count and for how long (per-channel windows), and how the revenue is shared among them (the
// model). Pure functions: the reports read touches and conversions from the database and add the results up.
// Attribution says where revenue came from; only control groups say what the messages added.

export const ATTRIBUTION_MODELS = [
  "last_touch",
  "first_touch",
  "linear",
  "time_decay",
  "position_based",
] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];

/** An interaction with a message: what a customer did with it, and when. */
export interface Touch {
  messageId: string;
  scenario: string | null;
  channel: string;
  /** `delivered`, `opened`, `clicked`, … */
  kind: string;
  /** epoch ms */
  at: number;
}

export interface Conversion {
  /** epoch ms */
  at: number;
  revenue: number;
}

export interface Credit {
  touch: Touch;
  /** the touch's part of the conversion, 0–1; the parts of one conversion add up to 1 */
  share: number;
  revenue: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * How long after an interaction a conversion is credited to it, by `channel.kind` (SPEC §7 defaults). An
 * interaction with no window here (an email merely delivered) credits nothing.
 */
export const DEFAULT_WINDOWS: Readonly<Record<string, number>> = {
  "email.opened": 5 * DAY,
  "email.clicked": 5 * DAY,
  "sms.clicked": 5 * DAY,
  "sms.delivered": 12 * HOUR,
  "push.opened": DAY,
  "telegram.clicked": 5 * DAY,
};

export interface AttributionOptions {
  model?: AttributionModel;
  /** `channel.kind` → window in ms; default DEFAULT_WINDOWS */
  windows?: Readonly<Record<string, number>>;
  /** the half-life of the time-decay model, default 7 days */
  halfLifeMs?: number;
}

/** The touches that may claim the conversion: before it and inside their window, oldest first. */
export function eligibleTouches(
  conversion: Conversion,
  touches: readonly Touch[],
  windows: Readonly<Record<string, number>> = DEFAULT_WINDOWS,
): Touch[] {
  return touches
    .filter((t) => {
      const window = windows[`${t.channel}.${t.kind}`];
      return window !== undefined && t.at <= conversion.at && conversion.at - t.at <= window;
    })
    .sort((a, b) => a.at - b.at || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0));
}

/** Shares the conversion's revenue among its eligible touches; none when no touch is eligible. */
export function attribute(
  conversion: Conversion,
  touches: readonly Touch[],
  opts: AttributionOptions = {},
): Credit[] {
  const eligible = eligibleTouches(conversion, touches, opts.windows);
  const weights = modelWeights(opts.model ?? "last_touch", eligible, conversion, opts.halfLifeMs ?? 7 * DAY);
  const total = weights.reduce((s, w) => s + w, 0);
  if (total <= 0) return [];
  return eligible.flatMap((touch, i) => {
    const share = (weights[i] as number) / total;
    return share > 0 ? [{ touch, share, revenue: conversion.revenue * share }] : [];
  });
}

function modelWeights(
  model: AttributionModel,
  touches: Touch[],
  c: Conversion,
  halfLifeMs: number,
): number[] {
  const n = touches.length;
  switch (model) {
    case "last_touch":
      return touches.map((_, i) => (i === n - 1 ? 1 : 0));
    case "first_touch":
      return touches.map((_, i) => (i === 0 ? 1 : 0));
    case "linear":
      return touches.map(() => 1);
    case "time_decay":
      return touches.map((t) => 2 ** (-(c.at - t.at) / halfLifeMs));
    case "position_based":
      // 40% to the first, 40% to the last, 20% shared by those between; with two, half each
      if (n <= 2) return touches.map(() => 1);
      return touches.map((_, i) => (i === 0 || i === n - 1 ? 0.4 : 0.2 / (n - 2)));
  }
}

export interface AttributedTotals {
  /** attributed revenue by message id, scenario and channel */
  byMessage: Map<string, number>;
  byScenario: Map<string, number>;
  byChannel: Map<string, number>;
  /** revenue of conversions some message touched, and of all conversions */
  attributed: number;
  total: number;
}

/** Adds up the attribution of every conversion of every customer. */
export function attributeAll(
  customers: Iterable<{ touches: readonly Touch[]; conversions: readonly Conversion[] }>,
  opts: AttributionOptions = {},
): AttributedTotals {
  const out: AttributedTotals = {
    byMessage: new Map(),
    byScenario: new Map(),
    byChannel: new Map(),
    attributed: 0,
    total: 0,
  };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const { touches, conversions } of customers) {
    for (const c of conversions) {
      out.total += c.revenue;
      for (const credit of attribute(c, touches, opts)) {
        out.attributed += credit.revenue;
        add(out.byMessage, credit.touch.messageId, credit.revenue);
        add(out.byScenario, credit.touch.scenario ?? "(none)", credit.revenue);
        add(out.byChannel, credit.touch.channel, credit.revenue);
      }
    }
  }
  return out;
}
