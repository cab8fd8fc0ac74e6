// Quiet hours in the customer's zone: periods across midnight, daylight-saving changes in 2026 (Europe/Berlin on
// 29 March and 25 October, America/New_York on 8 March and 1 November), and zone names Intl does not know.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseTimeZone, firstInstantAtWall, localTime } from "../time-zone.ts";
import { isQuiet, quietPeriodEnd } from "./quiet-hours.ts";

const NIGHT = { start: 21 * 60, end: 9 * 60 };
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

test("a period across midnight: the evening ends next morning, the small hours the same morning", () => {
  const zone = "Europe/Moscow"; // UTC+3 all year
  assert.equal(isQuiet(NIGHT, at("2026-06-10T17:59:00Z"), zone), false); // 20:59
  assert.equal(isQuiet(NIGHT, at("2026-06-10T18:00:00Z"), zone), true); // 21:00 starts it
  assert.equal(iso(quietPeriodEnd(NIGHT, at("2026-06-10T20:30:00Z"), zone)), "2026-06-11T06:00:00.000Z");
  assert.equal(iso(quietPeriodEnd(NIGHT, at("2026-06-11T00:30:00Z"), zone)), "2026-06-11T06:00:00.000Z");
  assert.equal(isQuiet(NIGHT, at("2026-06-11T06:00:00Z"), zone), false); // 09:00 ends it
  assert.equal(quietPeriodEnd(NIGHT, at("2026-06-11T09:00:00Z"), zone), null);
});

test("a period within one day", () => {
  const lunch = { start: 13 * 60, end: 15 * 60 };
  assert.equal(isQuiet(lunch, at("2026-06-10T12:59:00Z"), "UTC"), false);
  assert.equal(iso(quietPeriodEnd(lunch, at("2026-06-10T13:00:00Z"), "UTC")), "2026-06-10T15:00:00.000Z");
  assert.equal(isQuiet(lunch, at("2026-06-10T15:00:00Z"), "UTC"), false);
  assert.equal(isQuiet(lunch, at("2026-06-10T23:00:00Z"), "UTC"), false);
});

test("Berlin: a night across the spring change ends at 09:00 summer time", () => {
  // 23:00 CET on 28 March; clocks jump 02:00 → 03:00 that night; 09:00 CEST is 07:00 UTC.
  assert.equal(
    iso(quietPeriodEnd(NIGHT, at("2026-03-28T22:00:00Z"), "Europe/Berlin")),
    "2026-03-29T07:00:00.000Z",
  );
  // 08:30 CEST the morning after is still quiet, 09:00 CEST is not.
  assert.equal(isQuiet(NIGHT, at("2026-03-29T06:30:00Z"), "Europe/Berlin"), true);
  assert.equal(isQuiet(NIGHT, at("2026-03-29T07:00:00Z"), "Europe/Berlin"), false);
  // 19:00 UTC on 30 March is 21:00 CEST (quiet); read with the winter offset it would be 20:00.
  assert.equal(isQuiet(NIGHT, at("2026-03-30T19:00:00Z"), "Europe/Berlin"), true);
});

test("Berlin: a night across the autumn change ends at 09:00 winter time", () => {
  // 22:00 CEST on 24 October; clocks go back 03:00 → 02:00; 09:00 CET is 08:00 UTC.
  assert.equal(
    iso(quietPeriodEnd(NIGHT, at("2026-10-24T20:00:00Z"), "Europe/Berlin")),
    "2026-10-25T08:00:00.000Z",
  );
  assert.equal(isQuiet(NIGHT, at("2026-10-25T07:59:00Z"), "Europe/Berlin"), true);
});

test("New York: nights across both 2026 changes", () => {
  // 22:00 EST on 7 March → 09:00 EDT on 8 March = 13:00 UTC.
  assert.equal(
    iso(quietPeriodEnd(NIGHT, at("2026-03-08T03:00:00Z"), "America/New_York")),
    "2026-03-08T13:00:00.000Z",
  );
  // 22:00 EDT on 31 October → 09:00 EST on 1 November = 14:00 UTC.
  assert.equal(
    iso(quietPeriodEnd(NIGHT, at("2026-11-01T02:00:00Z"), "America/New_York")),
    "2026-11-01T14:00:00.000Z",
  );
  // 20:30 EDT on 31 October is not quiet; 20:30 EST on 1 November (01:30 UTC on the 2nd) is not either.
  assert.equal(isQuiet(NIGHT, at("2026-11-01T00:30:00Z"), "America/New_York"), false);
  assert.equal(isQuiet(NIGHT, at("2026-11-02T01:30:00Z"), "America/New_York"), false);
});

test("an end time the spring jump skips ends the period at the jump", () => {
  const early = { start: 60, end: 150 }; // 01:00-02:30; Berlin has no 02:30 on 29 March 2026
  assert.equal(
    iso(quietPeriodEnd(early, at("2026-03-29T00:15:00Z"), "Europe/Berlin")),
    "2026-03-29T01:00:00.000Z",
  );
  assert.equal(isQuiet(early, at("2026-03-29T01:00:00Z"), "Europe/Berlin"), false); // 03:00 CEST
});

test("an end time that happens twice in autumn: the next one ahead counts", () => {
  const early = { start: 60, end: 150 }; // 01:00-02:30; Berlin shows 02:00-02:59 twice on 25 October 2026
  // 01:30 CEST → the first 02:30 (CEST) = 00:30 UTC.
  assert.equal(
    iso(quietPeriodEnd(early, at("2026-10-24T23:30:00Z"), "Europe/Berlin")),
    "2026-10-25T00:30:00.000Z",
  );
  // 02:10 CET, after the clocks went back, is quiet again and ends at the second 02:30 = 01:30 UTC.
  assert.equal(isQuiet(early, at("2026-10-25T01:10:00Z"), "Europe/Berlin"), true);
  assert.equal(
    iso(quietPeriodEnd(early, at("2026-10-25T01:10:00Z"), "Europe/Berlin")),
    "2026-10-25T01:30:00.000Z",
  );
});

test("local wall times convert both ways around the changes", () => {
  const day = (isoDate: string) => Date.parse(`${isoDate}T00:00:00Z`) / 86_400_000;
  assert.deepEqual(localTime(at("2026-03-29T01:00:00Z"), "Europe/Berlin"), {
    day: day("2026-03-29"),
    minute: 180,
  });
  assert.deepEqual(localTime(at("2026-03-29T00:59:00Z"), "Europe/Berlin"), {
    day: day("2026-03-29"),
    minute: 119,
  });
  assert.equal(
    iso(firstInstantAtWall(day("2026-07-01"), 9 * 60, "America/New_York")),
    "2026-07-01T13:00:00.000Z",
  );
  assert.equal(
    iso(firstInstantAtWall(day("2026-03-08"), 2 * 60 + 30, "America/New_York")),
    "2026-03-08T07:00:00.000Z",
  );
  assert.equal(
    iso(firstInstantAtWall(day("2026-11-01"), 60 + 30, "America/New_York")),
    "2026-11-01T05:30:00.000Z",
  );
  assert.equal(iso(firstInstantAtWall(day("2026-01-01"), 0, "Asia/Kathmandu")), "2025-12-31T18:15:00.000Z");
});

test("time zones: the customer's, else the workspace's, else UTC; unknown names fall through with a note", () => {
  assert.deepEqual(chooseTimeZone("America/New_York", "Europe/Berlin"), {
    zone: "America/New_York",
    source: "customer",
    note: null,
  });
  assert.deepEqual(chooseTimeZone(null, "Europe/Berlin"), {
    zone: "Europe/Berlin",
    source: "workspace",
    note: null,
  });
  const bad = chooseTimeZone("Mars/Olympus_Mons", "Europe/Berlin");
  assert.equal(bad.zone, "Europe/Berlin");
  assert.match(bad.note ?? "", /Mars\/Olympus_Mons/);
  const worse = chooseTimeZone("+03:00 Moscow", "Nowhere/Land");
  assert.equal(worse.zone, "UTC");
  assert.match(worse.note ?? "", /Nowhere\/Land/);
  assert.equal(chooseTimeZone("", null).zone, "UTC");
});
