// Channel capacity and rate limits (SPEC §5 rule 8): a channel's `capacity` (e.g. a call centre's 200 calls a
// day) and `rate` (a provider's 50 messages a second) count every message sent on it, for all customers, in
// fixed windows. Windows of whole days follow local calendar days in the workspace's time zone, so "200/day"
// resets at the business's midnight; shorter windows are aligned to the epoch (each second, minute, hour).
import { firstInstantAtWall, localTime } from "../time-zone.ts";
import type { ChannelInput, ChannelUsage, LimitInput, TraceEntry, WindowUsage } from "./types.ts";

const DAY_MS = 86_400_000;

export interface LimitWindow {
  start: Date;
  end: Date;
}

/** The window of a limit that contains `now`: the engine counts sends in [start, now] and passes `end`. */
export function limitWindow(limit: LimitInput, now: Date, zone: string): LimitWindow {
  const at = now.getTime();
  if (limit.perMs % DAY_MS === 0) {
    const days = limit.perMs / DAY_MS;
    const today = localTime(at, zone).day;
    const first = today - (((today % days) + days) % days);
    return {
      start: new Date(firstInstantAtWall(first, 0, zone)),
      end: new Date(firstInstantAtWall(first + days, 0, zone)),
    };
  }
  const start = Math.floor(at / limit.perMs) * limit.perMs;
  return { start: new Date(start), end: new Date(start + limit.perMs) };
}

/** The instant the channel can take one more message: `now` when both limits have room. */
export function nextFreeSlot(
  channel: ChannelInput,
  usage: ChannelUsage | undefined,
  now: Date,
  trace: TraceEntry[],
): Date {
  let until = now.getTime();
  const limits: [string, LimitInput | null, WindowUsage | undefined][] = [
    ["capacity", channel.capacity, usage?.capacity],
    ["rate", channel.rate, usage?.rate],
  ];
  for (const [label, limit, used] of limits) {
    if (limit === null) continue;
    const count = used !== undefined && used.windowEnd.getTime() > now.getTime() ? used.used : 0;
    if (count < limit.count) {
      trace.push({
        check: "capacity",
        result: "passed",
        detail: `${label} ${count}/${limit.count} used in this window`,
        channel: channel.name,
      });
    } else if (used !== undefined) {
      until = Math.max(until, used.windowEnd.getTime());
      trace.push({
        check: "capacity",
        result: "failed",
        detail: `${label} ${count}/${limit.count} used; room again at ${used.windowEnd.toISOString()}`,
        channel: channel.name,
      });
    }
  }
  return new Date(until);
}

/** The usage after one more send, for the next decisions of the same round. */
export function withOneMore(usage: ChannelUsage | undefined, channel: ChannelInput, now: Date, zone: string) {
  const bump = (limit: LimitInput | null, used: WindowUsage | undefined): WindowUsage | undefined => {
    if (limit === null) return used;
    if (used !== undefined && used.windowEnd.getTime() > now.getTime())
      return { ...used, used: used.used + 1 };
    return { used: 1, windowEnd: limitWindow(limit, now, zone).end };
  };
  const next: ChannelUsage = {};
  const capacity = bump(channel.capacity, usage?.capacity);
  const rate = bump(channel.rate, usage?.rate);
  if (capacity) next.capacity = capacity;
  if (rate) next.rate = rate;
  return next;
}
