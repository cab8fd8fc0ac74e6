// The value formats of the strategy document: what each accepts, what it refuses and why.
import assert from "node:assert/strict";
import { test } from "node:test";
import { suggest } from "./suggest.ts";
import { parseDuration, parsePercent, parseQuietHours, parseRate, parseTimeOfDay } from "./values.ts";

test("durations: units, compounds, and the refusals a user would make", () => {
  assert.deepEqual(parseDuration("2d"), { ok: true, value: 2 * 86_400_000 });
  assert.deepEqual(parseDuration("1h30m"), { ok: true, value: 90 * 60_000 });
  assert.deepEqual(parseDuration("2y"), { ok: true, value: 730 * 86_400_000 });
  for (const bad of ["-5d", "100000y", "731d", "5", "2x", "", "0s", 5])
    assert.equal(parseDuration(bad).ok, false, String(bad));
  assert.equal(parseDuration("0s", true).ok, true);
  const unitless = parseDuration(5);
  assert.ok(!unitless.ok && unitless.message.includes("5d"));
});

test("percentages, times of day, quiet hours and rates", () => {
  assert.deepEqual(parsePercent("12.5%"), { ok: true, value: 0.125 });
  for (const bad of ["150%", "5", 0.05, "-1%"]) assert.equal(parsePercent(bad).ok, false, String(bad));
  assert.deepEqual(parseTimeOfDay("09:30"), { ok: true, value: 570 });
  assert.equal(parseTimeOfDay("24:00").ok, false);
  assert.deepEqual(parseQuietHours("21:00-09:00"), { ok: true, value: { start: 1260, end: 540 } });
  assert.equal(parseQuietHours("09:00-09:00").ok, false);
  assert.deepEqual(parseRate("200/day"), { ok: true, value: { count: 200, perMs: 86_400_000 } });
  assert.deepEqual(parseRate("50/s"), { ok: true, value: { count: 50, perMs: 1000 } });
  assert.equal(parseRate("0/s").ok, false);
  assert.equal(parseRate("50/fortnight").ok, false);
});

test("did you mean: typos, swapped letters, clipped names; nothing for unrelated words", () => {
  assert.equal(suggest("priorty", ["priority", "goal"]), "priority");
  assert.equal(suggest("emial", ["email", "sms"]), "email");
  assert.equal(suggest("segment", ["event", "segment_entered"]), "segment_entered");
  assert.equal(suggest("Moscow", ["Europe/Moscow", "Europe/Minsk"]), "Europe/Moscow");
  assert.equal(suggest("zzzz", ["email", "sms"]), undefined);
});
