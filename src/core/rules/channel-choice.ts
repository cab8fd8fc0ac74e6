// Channel choice (SPEC §5 rule 4): among the channels that can carry the message, the customer's stated
// preference; else, for `best`, the one this customer engages with most; else the strategy's channel order;
// ties go to the cheaper channel.
import type { ChannelEngagement, ChannelInput, ChoiceReason, RulesInput, TraceEntry } from "./types.ts";

/** Engagement needs this many messages on a channel before its rate counts … */
export const MIN_MESSAGES_PER_CHANNEL = 3;
/** … on at least this many channels, so there is something to compare. */
export const MIN_CHANNELS_COMPARED = 2;

export interface Choice {
  channel: ChannelInput;
  reason: ChoiceReason;
}

/** The channel order as a rank: listed channels by position, the rest after them, all equal. */
function rankIn(order: readonly string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}

/** Orders channels by the strategy's channel order, then cost, then the order they were given in. */
export function byChannelOrder(channels: readonly ChannelInput[], order: readonly string[]): ChannelInput[] {
  return channels
    .map((channel, given) => ({ channel, given }))
    .sort(
      (a, b) =>
        rankIn(order, a.channel.name) - rankIn(order, b.channel.name) ||
        a.channel.cost - b.channel.cost ||
        a.given - b.given,
    )
    .map((x) => x.channel);
}

export function engagementRate(e: ChannelEngagement): number {
  return e.messages > 0 ? (e.opens + e.clicks) / e.messages : 0;
}

function byEngagement(
  usable: readonly ChannelInput[],
  engagement: Readonly<Record<string, ChannelEngagement>>,
  order: readonly string[],
  trace: TraceEntry[],
): ChannelInput | null {
  const measured = usable.filter((c) => (engagement[c.name]?.messages ?? 0) >= MIN_MESSAGES_PER_CHANNEL);
  if (measured.length < MIN_CHANNELS_COMPARED) {
    trace.push({
      check: "channel_choice",
      result: "note",
      detail: `engagement not used: ${measured.length} usable channel(s) with ≥ ${MIN_MESSAGES_PER_CHANNEL} messages in 6 months, ${MIN_CHANNELS_COMPARED} needed`,
    });
    return null;
  }
  const rate = (c: ChannelInput) => {
    const e = engagement[c.name];
    return e ? engagementRate(e) : 0;
  };
  const ranked = byChannelOrder(measured, order).sort((a, b) => rate(b) - rate(a) || a.cost - b.cost);
  const rates = measured.map((c) => `${c.name} ${rate(c).toFixed(3)}`).join(", ");
  trace.push({
    check: "channel_choice",
    result: "note",
    detail: `engagement (opens+clicks)/messages: ${rates}`,
  });
  return ranked[0] ?? null;
}

export function chooseChannel(
  usable: readonly ChannelInput[],
  best: boolean,
  preferred: string | null,
  rules: RulesInput,
  engagement: Readonly<Record<string, ChannelEngagement>>,
  trace: TraceEntry[],
): Choice | null {
  const first = usable[0];
  if (first === undefined) return null;
  if (usable.length === 1) return { channel: first, reason: "only_channel" };
  const stated = preferred === null ? undefined : usable.find((c) => c.name === preferred);
  if (stated) return { channel: stated, reason: "preference" };
  if (preferred !== null) {
    trace.push({
      check: "channel_choice",
      result: "note",
      detail: `the stated preference '${preferred}' is not among the usable channels`,
    });
  }
  if (best) {
    const engaged = byEngagement(usable, engagement, rules.channelOrder, trace);
    if (engaged) return { channel: engaged, reason: "engagement" };
  }
  const ordered = byChannelOrder(usable, rules.channelOrder);
  const top = ordered[0] ?? first;
  return { channel: top, reason: "channel_order" };
}
