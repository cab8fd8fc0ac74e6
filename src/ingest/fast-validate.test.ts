import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { checkMessage } from "./fast-validate.ts";
import { CALL_TYPES, callSchemas } from "./tracking-schema.ts";

// Values that probe each rule's edges: empty, long, numbers, non-finite-like, objects, arrays, dates.
const edgy = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    "",
    "x",
    "a".repeat(255),
    "a".repeat(256),
    0,
    42,
    -1.5,
    true,
    false,
    [],
    {},
    [1],
  ),
  fc.constantFrom(
    "2026-01-01T00:00:00Z",
    "2026-01-01",
    "1",
    "2001",
    "+012026-01-01T00:00:00Z",
    "not a date",
    "2026-13-45",
    "a".repeat(70),
    "1 March 2026",
  ),
  fc.constantFrom("track", "identify", "page", "screen", "group", "alias", "bogus"),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue(), { maxKeys: 3 }),
  fc.string({ maxLength: 300 }),
  fc.double(),
);
const FIELDS = [
  "type",
  "userId",
  "anonymousId",
  "previousId",
  "groupId",
  "messageId",
  "timestamp",
  "originalTimestamp",
  "sentAt",
  "context",
  "integrations",
  "event",
  "name",
  "category",
  "properties",
  "traits",
];
// A valid message of the type with up to three fields replaced by edge values: the verdict hangs on those fields.
const VALID = {
  userId: "u1",
  anonymousId: "a1",
  previousId: "p1",
  groupId: "g1",
  event: "Order Completed",
  messageId: "m1",
  timestamp: "2026-01-01T00:00:00Z",
  properties: { a: 1 },
  traits: { b: 2 },
  context: { c: 3 },
};
const message = fc.array(fc.tuple(fc.constantFrom(...FIELDS), edgy), { maxLength: 3 }).map((overrides) => {
  const m: Record<string, unknown> = { ...VALID };
  for (const [k, v] of overrides) {
    // messages come from JSON.parse: plain values only
    if (v === undefined) delete m[k];
    else m[k] = JSON.parse(JSON.stringify(v) ?? "null");
  }
  return m;
});

test("property: the fast validator accepts exactly what the documented zod schemas accept, with the same result", () => {
  fc.assert(
    fc.property(fc.constantFrom(...CALL_TYPES), message, (type, raw) => {
      const fast = checkMessage(raw as Record<string, unknown>, type);
      const zod = callSchemas[type].safeParse(raw);
      assert.equal(fast.ok, zod.success, `${type} ${JSON.stringify(raw)}: fast ${JSON.stringify(fast)}`);
      if (fast.ok && zod.success) {
        const z = zod.data as Record<string, unknown>;
        for (const [k, v] of Object.entries(fast.message)) {
          if (k === "type") continue;
          assert.deepEqual(v ?? null, z[k] ?? null, `${type}.${k}`);
        }
      }
    }),
    { numRuns: 5000 },
  );
});

test("the reason names the field", () => {
  assert.deepEqual(checkMessage({ userId: "u" }, "track"), {
    ok: false,
    path: "event",
    reason: "required: a string",
  });
  assert.deepEqual(checkMessage({ event: "e" }, "track"), {
    ok: false,
    path: "userId",
    reason: "userId or anonymousId is required",
  });
  assert.deepEqual(checkMessage({ userId: "u", timestamp: "soon" }, "page"), {
    ok: false,
    path: "timestamp",
    reason: "must be an ISO-8601 date-time",
  });
});
