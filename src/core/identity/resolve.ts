// Identity resolution over one batch, as a pure function: given what the store already knows about the batch's
// identifiers, decide which customer each event belongs to, which identifiers to attach, which customers to merge
// and which to create. The store applies the decision in one transaction.
//
// Rules: an event carrying several identifiers links them; `alias` links previousId to userId. Linking two
// customers merges them, except that `identify`/`track` never merge two customers that each have a different
// userId (a shared device): the event goes to its userId's customer and the other identifier stays where it is.
// `alias` always merges. The survivor of a merge is an existing customer over a new one, then the one with a
// userId, then the older.

export type IdentityKind = "user" | "anon" | "email" | "phone";

export interface IdentityKey {
  kind: IdentityKind;
  value: string;
}

export const keyString = (k: IdentityKey): string => `${k.kind}:${k.value}`;

export interface KnownCustomer {
  customerId: string;
  userId: string | null;
}

export interface EventIdentity {
  userId: string | null;
  anonymousId: string | null;
  /** alias: the previous id (a userId or an anonymousId) */
  previousId: string | null;
  /** merge keys taken from traits when the workspace merges on them */
  contactKeys: IdentityKey[];
}

export interface Resolution {
  /** customer of each event, by position */
  eventCustomer: string[];
  /** identifiers to record (key string → customer) */
  newIdentities: Map<string, { key: IdentityKey; customerId: string }>;
  /** customers that exist in the store and must be merged (loser → survivor), in order */
  merges: { from: string; into: string; reason: string }[];
  /** customers to create, with their userId */
  created: Map<string, { userId: string | null }>;
  /** userId now held by each touched customer */
  userIdOf: Map<string, string | null>;
}

/**
 * @param known identifiers found in the store (key string → customer)
 * @param knownCustomers the store's customers among them
 * @param allocate returns a fresh customer id
 */
export function resolveIdentities(
  events: EventIdentity[],
  known: Map<string, string>,
  knownCustomers: Map<string, KnownCustomer>,
  allocate: () => string,
): Resolution {
  const owner = new Map(known);
  const userIdOf = new Map<string, string | null>();
  for (const c of knownCustomers.values()) userIdOf.set(c.customerId, c.userId);
  const existing = new Set(knownCustomers.keys());
  const mergedInto = new Map<string, string>();
  const created = new Map<string, { userId: string | null }>();
  const newIdentities = new Map<string, { key: IdentityKey; customerId: string }>();
  const merges: Resolution["merges"] = [];
  const eventCustomer: string[] = [];

  const find = (c: string): string => {
    let x = c;
    for (let next = mergedInto.get(x); next !== undefined; next = mergedInto.get(x)) x = next;
    return x;
  };
  const ownerOf = (k: IdentityKey): string | undefined => {
    const c = owner.get(keyString(k));
    return c === undefined ? undefined : find(c);
  };
  const attach = (k: IdentityKey, c: string) => {
    const s = keyString(k);
    owner.set(s, c);
    newIdentities.set(s, { key: k, customerId: c });
  };
  const create = (userId: string | null): string => {
    const c = allocate();
    created.set(c, { userId });
    userIdOf.set(c, userId);
    return c;
  };
  const merge = (a: string, b: string, reason: string): string => {
    if (a === b) return a;
    const rank = (c: string) => [existing.has(c) ? 0 : 1, userIdOf.get(c) ? 0 : 1, BigInt(c)] as const;
    const [ra, rb] = [rank(a), rank(b)];
    const aWins = ra[0] !== rb[0] ? ra[0] < rb[0] : ra[1] !== rb[1] ? ra[1] < rb[1] : ra[2] <= rb[2];
    const [into, from] = aWins ? [a, b] : [b, a];
    mergedInto.set(from, into);
    if (!userIdOf.get(into)) userIdOf.set(into, userIdOf.get(from) ?? null);
    if (existing.has(from)) merges.push({ from, into, reason });
    else created.delete(from);
    userIdOf.delete(from);
    return into;
  };
  const conflicting = (a: string, b: string) => {
    const ua = userIdOf.get(a);
    const ub = userIdOf.get(b);
    return Boolean(ua) && Boolean(ub) && ua !== ub;
  };

  for (const e of events) {
    const userKey: IdentityKey | null = e.userId ? { kind: "user", value: e.userId } : null;
    const anonKey: IdentityKey | null = e.anonymousId ? { kind: "anon", value: e.anonymousId } : null;
    let customer: string;

    if (e.previousId && userKey) {
      // alias: previousId is whichever of a user id or an anonymous id the store knows (an anonymous id if neither)
      const prevUser: IdentityKey = { kind: "user", value: e.previousId };
      const prevAnon: IdentityKey = { kind: "anon", value: e.previousId };
      const prevKey = ownerOf(prevUser) !== undefined ? prevUser : prevAnon;
      const cPrev = ownerOf(prevKey);
      const cUser = ownerOf(userKey);
      if (cPrev !== undefined && cUser !== undefined) customer = merge(cUser, cPrev, "alias");
      else if (cUser !== undefined) customer = cUser;
      else if (cPrev !== undefined) {
        customer = cPrev;
        if (!userIdOf.get(customer)) userIdOf.set(customer, e.userId);
      } else customer = create(e.userId);
      if (ownerOf(userKey) === undefined) attach(userKey, customer);
      if (ownerOf(prevKey) === undefined) attach(prevKey, customer);
    } else {
      const cUser = userKey ? ownerOf(userKey) : undefined;
      const cAnon = anonKey ? ownerOf(anonKey) : undefined;
      if (cUser !== undefined && cAnon !== undefined) {
        customer = cUser === cAnon || conflicting(cUser, cAnon) ? cUser : merge(cUser, cAnon, "identify");
      } else if (cUser !== undefined) {
        customer = cUser;
        if (anonKey) attach(anonKey, customer);
      } else if (cAnon !== undefined) {
        if (e.userId && userIdOf.get(cAnon) && userIdOf.get(cAnon) !== e.userId) {
          customer = create(e.userId); // someone else signed in on this device
        } else {
          customer = cAnon;
          if (e.userId) userIdOf.set(customer, e.userId);
        }
        if (userKey) attach(userKey, customer);
      } else {
        customer = create(e.userId);
        if (userKey) attach(userKey, customer);
        if (anonKey) attach(anonKey, customer);
      }
    }

    for (const k of e.contactKeys) {
      const c = ownerOf(k);
      if (c === undefined) attach(k, customer);
      else if (c !== customer && !conflicting(c, customer)) customer = merge(customer, c, `${k.kind} match`);
    }
    eventCustomer.push(customer);
  }

  for (let i = 0; i < eventCustomer.length; i++) eventCustomer[i] = find(eventCustomer[i] as string);
  for (const v of newIdentities.values()) v.customerId = find(v.customerId);
  for (const m of merges) m.into = find(m.into);
  return { eventCustomer, newIdentities, merges, created, userIdOf };
}
