import assert from "node:assert/strict";
import { test } from "node:test";
import { smsSegments } from "./sms-segments.ts";

test("GSM-7 text: 160 characters fit one SMS, 161 need two parts of at most 153", () => {
  assert.deepEqual(smsSegments("a".repeat(160)), { encoding: "gsm7", units: 160, segments: 1 });
  assert.deepEqual(smsSegments("a".repeat(161)), { encoding: "gsm7", units: 161, segments: 2 });
  assert.equal(smsSegments("a".repeat(306)).segments, 2);
  assert.equal(smsSegments("a".repeat(307)).segments, 3);
  assert.equal(smsSegments("").segments, 0);
});

test("characters of the GSM extension table take two septets and are never split between parts", () => {
  assert.deepEqual(smsSegments("€".repeat(80)), { encoding: "gsm7", units: 160, segments: 1 });
  assert.equal(smsSegments("€".repeat(81)).segments, 2);
  // 152 plain characters then '[': the escape pair does not fit the first part's last septet.
  const text = `${"a".repeat(152)}[${"b".repeat(10)}`;
  assert.equal(smsSegments(text).units, 164);
  assert.equal(smsSegments(text).segments, 2);
  assert.equal(smsSegments(`${"a".repeat(152)}[${"b".repeat(152)}`).segments, 3);
});

test("a single character outside GSM-7 (Cyrillic, emoji) makes the whole text UCS-2: 70, then parts of 67", () => {
  assert.deepEqual(smsSegments(`${"Привет".repeat(11)}Пр`), { encoding: "ucs2", units: 68, segments: 1 });
  assert.deepEqual(smsSegments("я".repeat(71)), { encoding: "ucs2", units: 71, segments: 2 });
  assert.equal(smsSegments(`${"a".repeat(159)}ж`).segments, 3);
  // An emoji is a surrogate pair: two units, kept in one part.
  const emoji = `${"a".repeat(66)}😀`;
  assert.deepEqual(smsSegments(emoji), { encoding: "ucs2", units: 68, segments: 1 });
  assert.equal(smsSegments(`${"a".repeat(66)}😀${"a".repeat(10)}`).segments, 2);
  assert.equal(smsSegments(`${"a".repeat(133)}😀`).segments, 3);
});
