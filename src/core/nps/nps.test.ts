import assert from "node:assert/strict";
import { test } from "node:test";
import { npsFigures, npsGroup, parseNpsReply } from "./index.ts";

test("a reply that starts with a score 0–10 is an answer; the rest is its comment", () => {
  const ok: [string, number, string | null][] = [
    ["9", 9, null],
    [" 10! ", 10, null],
    ["0", 0, null],
    ["7/10 slow delivery", 7, "slow delivery"],
    ["3 - the courier was late", 3, "the courier was late"],
    ["9 из 10", 9, null],
    ["10 out of 10, great", 10, "great"],
    ["«8» норм", 8, "норм"],
  ];
  for (const [text, score, comment] of ok)
    assert.deepEqual(parseNpsReply(text), { ok: true, score, comment }, text);
  const refused: [string, RegExp][] = [
    ["call me at 5", /does not start with a score/],
    ["9am", /does not start with a score/],
    ["11", /11 is not a score/],
    ["7.5", /not a whole number/],
    ["9 10", /more than one score/],
    ["", /does not start/],
    ["-3", /does not start/],
    ["x".repeat(2001), /longer than/],
  ];
  for (const [text, reason] of refused) {
    const r = parseNpsReply(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.reason, reason);
  }
});

test("groups: 9–10 promoters, 7–8 passives, 0–6 detractors", () => {
  assert.deepEqual([0, 6, 7, 8, 9, 10].map(npsGroup), [
    "detractor",
    "detractor",
    "passive",
    "passive",
    "promoter",
    "promoter",
  ]);
});

test("NPS and its trinomial 95% interval, against hand-computed values", () => {
  // 5 promoters, 3 passives, 2 detractors: NPS = 50% − 20% = 30;
  // variance of the mean = (0.5 + 0.2 − 0.3²) / 10 = 0.061; SE = 24.70 points; CI = 30 ± 1.96 × 24.70
  const f = npsFigures({ promoters: 5, passives: 3, detractors: 2 });
  assert.equal(f.responses, 10);
  assert.equal(f.nps, 30);
  assert.equal(f.standardError, 24.7);
  assert.deepEqual(f.ci95, { low: -18.41, high: 78.41 });
  // all promoters: no spread, the interval is the point; all detractors likewise
  assert.deepEqual(npsFigures({ promoters: 4, passives: 0, detractors: 0 }).ci95, { low: 100, high: 100 });
  assert.equal(npsFigures({ promoters: 0, passives: 0, detractors: 3 }).nps, -100);
  // the interval never leaves −100…100
  const wide = npsFigures({ promoters: 2, passives: 0, detractors: 1 });
  assert.ok((wide.ci95?.high ?? 0) <= 100 && (wide.ci95?.low ?? 0) >= -100);
  assert.deepEqual(npsFigures({ promoters: 0, passives: 0, detractors: 0 }), {
    promoters: 0,
    passives: 0,
    detractors: 0,
    responses: 0,
    nps: null,
    ci95: null,
    standardError: null,
  });
});
