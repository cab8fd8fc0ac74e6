// Channel limit windows and the frequency search: local-day windows across a DST change, epoch-aligned short
// windows, the next free slot, and the earliest moment every frequency rule allows.
import assert from "node:assert/strict";
import { test } from "node:test";
import { limitWindow, nextFreeSlot } from "./capacity.ts";
import { blockersAt, earliestAllowed } from "./frequency.ts";
import type { ChannelInput, RulesInput, TraceEntry } from "./types.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

test("a daily capacity resets at the workspace's local midnight, also on the day clocks change", () => {
  const w = limitWindow({ count: 200, perMs: DAY }, new Date("2026-03-29T12:00:00Z"), "Europe/Berlin");
  assert.equal(w.start.toISOString(), "2026-03-28T23:00:00.000Z"); // 00:00 CET
  assert.equal(w.end.toISOString(), "2026-03-29T22:00:00.000Z"); // 00:00 CEST: a 23-hour day
  const utc = limitWindow({ count: 200, perMs: DAY }, new Date("2026-03-29T12:00:00Z"), "UTC");
  assert.equal(utc.end.toISOString(), "2026-03-30T00:00:00.000Z");
});

test("short windows are aligned to whole seconds, minutes, hours", () => {
  const w = limitWindow({ count: 50, perMs: 1000 }, new Date("2026-06-10T09:00:00.750Z"), "Europe/Berlin");
  assert.deepEqual(
    [w.start.toISOString(), w.end.toISOString()],
    ["2026-06-10T09:00:00.000Z", "2026-06-10T09:00:01.000Z"],
  );
  const h = limitWindow({ count: 1000, perMs: HOUR }, new Date("2026-06-10T09:59:59Z"), "UTC");
  assert.equal(h.end.toISOString(), "2026-06-10T10:00:00.000Z");
});

test("the next free slot is the later reopening of the limits that are full", () => {
  const sms: ChannelInput = {
    name: "sms",
    kind: "sms",
    contact: "phone",
    cost: 1,
    capacity: { count: 10, perMs: DAY },
    rate: { count: 2, perMs: 1000 },
  };
  const now = new Date("2026-06-10T09:00:00.250Z");
  const second = new Date("2026-06-10T09:00:01Z");
  const midnight = new Date("2026-06-11T00:00:00Z");
  const trace: TraceEntry[] = [];
  const rateFull = { capacity: { used: 3, windowEnd: midnight }, rate: { used: 2, windowEnd: second } };
  assert.equal(nextFreeSlot(sms, rateFull, now, trace).toISOString(), second.toISOString());
  assert.ok(trace.some((t) => t.result === "failed" && /rate 2\/2/.test(t.detail)));
  const bothFull = { capacity: { used: 10, windowEnd: midnight }, rate: { used: 2, windowEnd: second } };
  assert.equal(nextFreeSlot(sms, bothFull, now, []).toISOString(), midnight.toISOString());
  assert.equal(nextFreeSlot(sms, undefined, now, []).toISOString(), now.toISOString());
});

const rules = (over: Partial<RulesInput>): RulesInput => ({
  consent: "opt_in",
  quietHours: null,
  frequency: [],
  minGapMs: 0,
  channelOrder: [],
  ...over,
});
const sent = (at: number, channel: string) => ({ at: new Date(at), channel, kind: "marketing" as const });

test("rolling windows: sends less than the window apart share it", () => {
  const r = rules({ frequency: [{ max: 2, perMs: DAY, channels: null }] });
  const t0 = Date.parse("2026-06-01T00:00:00Z");
  const history = [sent(t0, "email"), sent(t0 + 10 * HOUR, "sms")];
  assert.equal(blockersAt(r, history, "email", t0 + DAY - 1).length, 1);
  assert.equal(blockersAt(r, history, "email", t0 + DAY).length, 0);
  assert.equal(earliestAllowed(r, history, "email", t0 + 12 * HOUR, t0 + 10 * DAY), t0 + DAY);
  // A window never opens before the limit: null.
  assert.equal(earliestAllowed(r, history, "email", t0 + 12 * HOUR, t0 + 20 * HOUR), null);
});

test("a scoped rule ignores other channels' sends and does not hold other channels back", () => {
  const r = rules({ frequency: [{ max: 1, perMs: DAY, channels: ["sms", "call"] }] });
  const t0 = Date.parse("2026-06-01T00:00:00Z");
  const history = [sent(t0, "email"), sent(t0 + HOUR, "email"), sent(t0 + 2 * HOUR, "call")];
  assert.equal(blockersAt(r, history, "email", t0 + 3 * HOUR).length, 0);
  assert.equal(blockersAt(r, history, "sms", t0 + 3 * HOUR).length, 1);
  assert.equal(earliestAllowed(r, history, "sms", t0 + 3 * HOUR, t0 + 3 * DAY), t0 + 26 * HOUR);
});

test("every rule must hold: the earliest moment is when the last of them opens", () => {
  const r = rules({
    frequency: [
      { max: 1, perMs: 6 * HOUR, channels: null },
      { max: 3, perMs: 7 * DAY, channels: null },
    ],
    minGapMs: 8 * HOUR,
  });
  const t0 = Date.parse("2026-06-01T00:00:00Z");
  const history = [sent(t0, "email"), sent(t0 + 2 * DAY, "email"), sent(t0 + 3 * DAY, "sms")];
  // Weekly rule opens at t0 + 7d; the gap and the 6 h rule opened long before.
  assert.equal(earliestAllowed(r, history, "email", t0 + 3 * DAY + HOUR, t0 + 30 * DAY), t0 + 7 * DAY);
  // Without the weekly rule, the 8 h gap after the last send decides.
  const noWeekly = { ...r, frequency: r.frequency.slice(0, 1) };
  assert.equal(
    earliestAllowed(noWeekly, history, "email", t0 + 3 * DAY + HOUR, t0 + 30 * DAY),
    t0 + 3 * DAY + 8 * HOUR,
  );
});
