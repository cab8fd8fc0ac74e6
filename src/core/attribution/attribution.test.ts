import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ATTRIBUTION_MODELS, attribute, attributeAll, type Touch } from "./index.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CONV = { at: 100 * DAY, revenue: 120 };
const touch = (id: string, channel: string, kind: string, before: number): Touch => ({
  messageId: id,
  scenario: `s-${id}`,
  channel,
  kind,
  at: CONV.at - before,
});
const shares = (credits: { touch: Touch; share: number }[]) =>
  Object.fromEntries(credits.map((c) => [c.touch.messageId, Math.round(c.share * 1000) / 1000]));

test("only interactions inside their channel's window, before the conversion, are credited", () => {
  const touches = [
    touch("open4d", "email", "opened", 4 * DAY),
    touch("open6d", "email", "opened", 6 * DAY),
    touch("delivered", "email", "delivered", HOUR),
    touch("sms11h", "sms", "delivered", 11 * HOUR),
    touch("sms13h", "sms", "delivered", 13 * HOUR),
    touch("after", "email", "clicked", -HOUR),
    touch("push", "push", "opened", 23 * HOUR),
  ];
  assert.deepEqual(shares(attribute(CONV, touches, { model: "linear" })), {
    open4d: 0.333,
    sms11h: 0.333,
    push: 0.333,
  });
  assert.deepEqual(attribute(CONV, [touch("old", "email", "clicked", 30 * DAY)]), [], "nothing eligible");
  const custom = attribute(CONV, [touch("open6d", "email", "opened", 6 * DAY)], {
    windows: { "email.opened": 7 * DAY },
  });
  assert.equal(custom.length, 1, "windows can be set per channel and interaction");
});

test("each model shares the revenue as SPEC §7 says", () => {
  const touches = [
    touch("a", "email", "clicked", 4 * DAY),
    touch("b", "telegram", "clicked", 3 * DAY),
    touch("c", "sms", "clicked", 2 * DAY),
    touch("d", "email", "opened", 0),
  ];
  assert.deepEqual(shares(attribute(CONV, touches)), { d: 1 }, "last touch is the default");
  assert.deepEqual(shares(attribute(CONV, touches, { model: "first_touch" })), { a: 1 });
  assert.deepEqual(shares(attribute(CONV, touches, { model: "linear" })), {
    a: 0.25,
    b: 0.25,
    c: 0.25,
    d: 0.25,
  });
  assert.deepEqual(shares(attribute(CONV, touches, { model: "position_based" })), {
    a: 0.4,
    b: 0.1,
    c: 0.1,
    d: 0.4,
  });
  assert.deepEqual(shares(attribute(CONV, touches.slice(0, 2), { model: "position_based" })), {
    a: 0.5,
    b: 0.5,
  });
  // time decay, 7-day half-life: a touch 7 days older weighs half
  const decay = attribute(
    CONV,
    [touch("now", "email", "clicked", 0), touch("week", "email", "clicked", 7 * DAY)],
    { model: "time_decay", windows: { "email.clicked": 30 * DAY } },
  );
  assert.deepEqual(shares(decay), { week: 0.333, now: 0.667 });
  assert.equal(
    decay.reduce((s, c) => s + c.revenue, 0),
    120,
  );
});

test("for every model the shares of a conversion add up to one and the revenue is kept", () => {
  const channels = ["email.opened", "email.clicked", "sms.delivered", "push.opened", "telegram.clicked"];
  const arb = fc.record({
    touches: fc.array(
      fc.record({ ck: fc.constantFrom(...channels), before: fc.integer({ min: -DAY, max: 6 * DAY }) }),
      { maxLength: 8 },
    ),
    revenue: fc.double({ min: 0, max: 1e6, noNaN: true }),
    model: fc.constantFrom(...ATTRIBUTION_MODELS),
  });
  fc.assert(
    fc.property(arb, ({ touches, revenue, model }) => {
      const ts = touches.map((t, i) => {
        const [channel, kind] = t.ck.split(".") as [string, string];
        return touch(`m${i}`, channel, kind, t.before);
      });
      const credits = attribute({ at: CONV.at, revenue }, ts, { model });
      if (credits.length === 0) return;
      const share = credits.reduce((s, c) => s + c.share, 0);
      assert.ok(Math.abs(share - 1) < 1e-9, `shares add up to ${share}`);
      const money = credits.reduce((s, c) => s + c.revenue, 0);
      assert.ok(Math.abs(money - revenue) <= 1e-9 * Math.max(1, revenue), `${money} of ${revenue}`);
      assert.ok(credits.every((c) => c.touch.at <= CONV.at && c.share > 0));
    }),
  );
});

test("totals by message, scenario and channel; conversions no message touched stay unattributed", () => {
  const totals = attributeAll([
    {
      touches: [touch("a", "email", "clicked", DAY)],
      conversions: [CONV, { at: CONV.at - 10 * DAY, revenue: 30 }],
    },
    { touches: [], conversions: [{ at: CONV.at, revenue: 50 }] },
  ]);
  assert.equal(totals.total, 200);
  assert.equal(totals.attributed, 120);
  assert.deepEqual([...totals.byChannel], [["email", 120]]);
  assert.deepEqual([...totals.byScenario], [["s-a", 120]]);
  assert.deepEqual([...totals.byMessage], [["a", 120]]);
});
