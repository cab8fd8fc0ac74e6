import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type EventIdentity, type KnownCustomer, keyString, resolveIdentities } from "./resolve.ts";

/** A store in memory that applies resolutions the way the database does. */
class MemoryStore {
  known = new Map<string, string>();
  customers = new Map<string, KnownCustomer>();
  eventsOf = new Map<string, number>();
  #next = 1;

  apply(events: EventIdentity[]): string[] {
    const r = resolveIdentities(events, this.known, this.customers, () => String(this.#next++));
    for (const m of r.merges) {
      for (const [k, c] of this.known) if (c === m.from) this.known.set(k, m.into);
      this.eventsOf.set(m.into, (this.eventsOf.get(m.into) ?? 0) + (this.eventsOf.get(m.from) ?? 0));
      this.eventsOf.delete(m.from);
      this.customers.delete(m.from);
    }
    for (const [k, v] of r.newIdentities) this.known.set(k, v.customerId);
    for (const [c, userId] of r.userIdOf) this.customers.set(c, { customerId: c, userId });
    for (const c of r.eventCustomer) this.eventsOf.set(c, (this.eventsOf.get(c) ?? 0) + 1);
    return r.eventCustomer;
  }

  /** which identifiers share a customer, independent of the ids chosen */
  partition(): string[] {
    const groups = new Map<string, string[]>();
    for (const [k, c] of this.known) groups.set(c, [...(groups.get(c) ?? []), k]);
    return [...groups.values()].map((g) => g.sort().join(",")).sort();
  }
}

const ev = (
  userId: string | null,
  anonymousId: string | null,
  previousId: string | null = null,
): EventIdentity => ({
  userId,
  anonymousId,
  previousId,
  contactKeys: [],
});

test("an anonymous visitor who signs up becomes one customer with all their events", () => {
  const s = new MemoryStore();
  s.apply([ev(null, "a1"), ev(null, "a1")]);
  s.apply([ev("u1", "a1"), ev("u1", null)]);
  assert.deepEqual(s.partition(), ["anon:a1,user:u1"]);
  assert.deepEqual([...s.eventsOf.values()], [4]);
});

test("two anonymous profiles of one person merge when both are identified, the existing one surviving", () => {
  const s = new MemoryStore();
  const [phone] = s.apply([ev(null, "phone")]);
  const [laptop] = s.apply([ev(null, "laptop")]);
  s.apply([ev("u1", "phone")]);
  const [after] = s.apply([ev("u1", "laptop")]);
  assert.deepEqual(s.partition(), ["anon:laptop,anon:phone,user:u1"]);
  assert.equal(after, phone);
  assert.ok(!s.customers.has(laptop as string));
});

test("a shared device does not merge two people with different user ids", () => {
  const s = new MemoryStore();
  s.apply([ev("anna", "kiosk")]);
  const [bob] = s.apply([ev("bob", "kiosk")]);
  assert.deepEqual(s.partition(), ["anon:kiosk,user:anna", "user:bob"]);
  assert.equal(s.customers.get(bob as string)?.userId, "bob");
});

test("alias merges a previous user id into the new one", () => {
  const s = new MemoryStore();
  s.apply([ev("old-id", null), ev("new-id", null)]);
  s.apply([ev("new-id", null, "old-id")]);
  assert.deepEqual(s.partition(), ["user:new-id,user:old-id"]);
  assert.equal(s.customers.size, 1);
});

test("contact keys merge an anonymous profile into the known customer with that email", () => {
  const s = new MemoryStore();
  s.apply([{ ...ev("u1", null), contactKeys: [{ kind: "email", value: "a@x.io" }] }]);
  s.apply([{ ...ev(null, "a9"), contactKeys: [{ kind: "email", value: "a@x.io" }] }]);
  assert.deepEqual(s.partition(), ["anon:a9,email:a@x.io,user:u1"]);
});

test("property: the final grouping of identifiers does not depend on event order or batching", () => {
  // People each own one user id and some anonymous ids; events carry any subset of one person's ids.
  const person = fc.record({ anon: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }) });
  const arb = fc
    .array(person, { minLength: 1, maxLength: 5 })
    .chain((people) => {
      const evt = fc
        .record({
          p: fc.integer({ min: 0, max: people.length - 1 }),
          withUser: fc.boolean(),
          anonPick: fc.nat(),
          alias: fc.boolean(),
        })
        .map(({ p, withUser, anonPick, alias }) => {
          const anons = (people[p] as { anon: number[] }).anon.map((a) => `p${p}-a${a}`);
          const anon = anons.length > 0 ? (anons[anonPick % anons.length] as string) : null;
          if (alias && anon) return ev(`p${p}`, null, anon);
          return ev(withUser || !anon ? `p${p}` : null, anon);
        });
      return fc.tuple(fc.constant(people), fc.array(evt, { minLength: 1, maxLength: 30 }));
    })
    .chain(([, events]) =>
      fc.tuple(
        fc.constant(events),
        fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 30, maxLength: 30 }),
      ),
    );
  fc.assert(
    fc.property(arb, ([events, shuffled, cuts]) => {
      const one = new MemoryStore();
      one.apply(events);
      const other = new MemoryStore();
      let i = 0;
      for (const size of cuts) {
        if (i >= shuffled.length) break;
        other.apply(shuffled.slice(i, i + size));
        i += size;
      }
      if (i < shuffled.length) other.apply(shuffled.slice(i));
      // Identifiers that appeared only as an alias' unknown previous id are recorded as anonymous ids in both.
      assert.deepEqual(other.partition(), one.partition());
      const total = (s: MemoryStore) => [...s.eventsOf.values()].reduce((a, b) => a + b, 0);
      assert.equal(total(other), events.length);
      assert.equal(total(one), events.length);
      assert.equal(new Set(one.known.values()).size, one.customers.size);
    }),
    { numRuns: 300 },
  );
});

test("keyString names the kind and the value", () => {
  assert.equal(keyString({ kind: "user", value: "42" }), "user:42");
});
