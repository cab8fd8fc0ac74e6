// A synthetic customer base of the flower shop (see strategy.yaml): visitors browsing bouquets, newsletter
// subscribers, buyers whose orders crowd before 14 February, 8 March, 1 September and Mother's Day (the last
// Sunday of November), regulars who come back for the same holidays, and customers who stop ordering.
// Deterministic: the same options give the same base, streamed in batches of whole customers.
import { person } from "../fictional-people.ts";
import {
  type Batch,
  type CustomerStory,
  DAY_MS,
  type GenerateOptions,
  generateBase,
  HOUR_MS,
  type Rng,
} from "../synthetic-base.ts";

interface Page {
  name: string;
  properties: { section: string; path: string; title: string };
}

const page = (section: string, path: string, title: string): Page => ({
  name: title,
  properties: { section, path, title },
});

// Shared, never mutated: many events point at the same properties object.
const CATALOGUE: Page[] = [
  page("home", "/", "Petals flower shop"),
  page("roses", "/roses", "Roses"),
  page("tulips", "/tulips", "Tulips"),
  page("peonies", "/peonies", "Peonies"),
  page("mixed", "/bouquets", "Mixed bouquets"),
  page("plants", "/plants", "Plants in pots"),
  page("gifts", "/gifts", "Cards, sweets and vases"),
  page("delivery", "/delivery", "Delivery and payment"),
];
const CATALOGUE_WEIGHTS = CATALOGUE.map((p, i) => [p, [3, 5, 3, 2, 4, 2, 1, 2][i] ?? 1] as const);

interface Product {
  id: string;
  name: string;
  category: string;
  price: number;
}

const PRODUCTS: Record<string, Product[]> = {
  roses: [
    { id: "roses-15-red", name: "15 red roses", category: "roses", price: 3_490 },
    { id: "roses-25-mix", name: "25 roses, mixed colours", category: "roses", price: 5_290 },
    { id: "roses-51-red", name: "51 red roses", category: "roses", price: 9_900 },
  ],
  tulips: [
    { id: "tulips-25", name: "25 tulips", category: "tulips", price: 2_790 },
    { id: "tulips-51", name: "51 tulips", category: "tulips", price: 4_990 },
  ],
  peonies: [{ id: "peonies-9", name: "9 peonies", category: "peonies", price: 4_490 }],
  mixed: [
    { id: "mix-spring", name: "Spring mix", category: "mixed", price: 2_490 },
    { id: "mix-autumn", name: "Autumn bouquet", category: "mixed", price: 2_990 },
    { id: "mix-author", name: "Florist's choice", category: "mixed", price: 3_990 },
  ],
  plants: [
    { id: "orchid", name: "Orchid in a pot", category: "plants", price: 2_890 },
    { id: "monstera", name: "Monstera", category: "plants", price: 3_590 },
  ],
};

type Occasion = "valentines_day" | "womens_day" | "knowledge_day" | "mothers_day";

/** What people buy for each holiday, by weight. */
const HOLIDAY_CATEGORIES: Record<Occasion, (readonly [string, number])[]> = {
  valentines_day: [
    ["roses", 6],
    ["peonies", 1],
    ["mixed", 2],
  ],
  womens_day: [
    ["tulips", 6],
    ["roses", 2],
    ["mixed", 3],
  ],
  knowledge_day: [
    ["mixed", 6],
    ["roses", 1],
  ],
  mothers_day: [
    ["roses", 2],
    ["mixed", 3],
    ["plants", 2],
    ["peonies", 1],
  ],
};
const EVERYDAY_CATEGORIES: (readonly [string, number])[] = [
  ["roses", 3],
  ["mixed", 4],
  ["peonies", 1],
  ["tulips", 1],
  ["plants", 2],
];

/** The holiday dates in [fromMs, toMs], in time order. */
function holidays(fromMs: number, toMs: number): { occasion: Occasion; at: number }[] {
  const out: { occasion: Occasion; at: number }[] = [];
  const first = new Date(fromMs).getUTCFullYear();
  const last = new Date(toMs).getUTCFullYear();
  for (let y = first; y <= last; y++) {
    const lastNovember = new Date(Date.UTC(y, 10, 30));
    const mothersDay = Date.UTC(y, 10, 30 - lastNovember.getUTCDay()); // the last Sunday of November
    const dates: [Occasion, number][] = [
      ["valentines_day", Date.UTC(y, 1, 14)],
      ["womens_day", Date.UTC(y, 2, 8)],
      ["knowledge_day", Date.UTC(y, 8, 1)],
      ["mothers_day", mothersDay],
    ];
    for (const [occasion, at] of dates) if (at >= fromMs && at <= toMs) out.push({ occasion, at });
  }
  return out.sort((a, b) => a.at - b.at);
}

export function generate(opts: GenerateOptions): Generator<Batch> {
  const nowMs = opts.now.getTime();
  const calendar = holidays(nowMs - ((opts.days ?? 365) + 30) * DAY_MS, nowMs + 30 * DAY_MS);
  return generateBase(opts, "petals", 0xf10e4, (s, rng, arrival) => shopCustomer(s, rng, arrival, calendar));
}

interface Habits {
  /** per holiday, the chance to buy for it once a customer */
  holidays: Record<Occasion, number>;
  /** everyday orders (birthdays, anniversaries, just because) per year */
  everydayPerYear: number;
  /** after this time the customer stops ordering */
  until: number;
}

function shopCustomer(
  s: CustomerStory,
  rng: Rng,
  arrival: number,
  calendar: readonly { occasion: Occasion; at: number }[],
): void {
  const kind = rng.next();
  s.anonymousId(rng.uuid());
  // Buyers mostly arrive in the week before a holiday; pull their first visit toward one.
  const next = calendar.find((h) => h.at > arrival);
  const firstOccasion =
    next && next.at - arrival < 40 * DAY_MS && kind >= 0.62 && rng.chance(0.75) ? next : null;
  let t = firstOccasion ? firstOccasion.at - (0.3 + rng.next() * 5) * DAY_MS : arrival;
  t = browse(s, rng, t, firstOccasion ? 1 : rng.int(1, 4)); // before a holiday people order at once
  if (kind < 0.4 || s.over) return; // visitors only browse
  const userId = `p${(500_000 + s.row.key).toString()}`;
  const p = person(rng, s.row.key);
  if (kind < 0.62) {
    subscribe(s, rng, userId, p.firstName, p.email, t);
    let visit = s.time + rng.exp(30) * DAY_MS;
    for (let i = 0; i < 8 && !s.over; i++) {
      browse(s, rng, visit, 1);
      visit = s.time + rng.exp(45) * DAY_MS;
    }
    unsubscribeSometimes(s, rng);
    return;
  }
  const habits: Habits = {
    holidays: {
      valentines_day: rng.chance(0.45) ? 0.6 : 0.05,
      womens_day: rng.chance(0.55) ? 0.65 : 0.05,
      knowledge_day: rng.chance(0.35) ? 0.75 : 0.02,
      mothers_day: rng.chance(0.35) ? 0.55 : 0.03,
    },
    everydayPerYear: rng.exp(1.2),
    until: s.time + (60 + rng.exp(300)) * DAY_MS,
  };
  if (firstOccasion)
    habits.holidays[firstOccasion.occasion] = Math.max(habits.holidays[firstOccasion.occasion], 0.6);
  checkout(s, rng, userId, p, firstOccasion?.occasion ?? "just_because", true);
  repeatOrders(s, rng, userId, p, habits, calendar);
}

function browse(s: CustomerStory, rng: Rng, t: number, visits: number): number {
  let at = t;
  for (let v = 0; v < visits && !s.over; v++) {
    const pages = rng.int(2, 8);
    for (let i = 0; i < pages; i++) {
      const pg = rng.weighted(CATALOGUE_WEIGHTS);
      s.page(at, pg.name, pg.properties);
      at = s.time + (15 + rng.exp(60)) * 1000;
    }
    at = s.time + (0.3 + rng.exp(2)) * DAY_MS;
  }
  return at;
}

/** The newsletter form: an email, then a double opt-in most people confirm. */
function subscribe(
  s: CustomerStory,
  rng: Rng,
  userId: string,
  firstName: string,
  email: string,
  t: number,
): void {
  if (!s.track(t, "signed_up", { source: "newsletter_form" })) return;
  const traits: Record<string, unknown> = { first_name: firstName, email, source: "newsletter_form" };
  if (rng.chance(0.3)) traits.has_children = true;
  s.identify(s.time + 400, userId, traits);
  if (rng.chance(0.8)) {
    s.track(s.time + rng.exp(30) * 60_000, "subscription_confirmed", { channel: "email" });
    s.identify(s.time + 300, userId, { consent: { email: "opted_in" } });
  }
}

function checkout(
  s: CustomerStory,
  rng: Rng,
  userId: string,
  p: { firstName: string; email: string; phone: string },
  occasion: string,
  first: boolean,
): void {
  const categories =
    occasion in HOLIDAY_CATEGORIES ? HOLIDAY_CATEGORIES[occasion as Occasion] : EVERYDAY_CATEGORIES;
  const product = rng.pick(PRODUCTS[rng.weighted(categories)] ?? []);
  const view = CATALOGUE.find((c) => c.properties.section === product.category);
  if (view) s.page(s.time + rng.exp(10) * 60_000, view.name, view.properties);
  s.track(s.time + (30 + rng.exp(120)) * 1000, "product_added", {
    product_id: product.id,
    price: product.price,
  });
  if (first) {
    // Checkout creates the account; the consent boxes are optional.
    s.track(s.time + (60 + rng.exp(120)) * 1000, "signed_up", { source: "checkout" });
    const consent: Record<string, string> = {};
    if (rng.chance(0.6)) consent.email = "opted_in";
    if (rng.chance(0.45)) consent.sms = "opted_in";
    const traits: Record<string, unknown> = {
      first_name: p.firstName,
      email: p.email,
      phone: p.phone,
      source: "checkout",
    };
    if (occasion === "knowledge_day") traits.has_children = true;
    if (Object.keys(consent).length > 0) traits.consent = consent;
    s.identify(s.time + 300, userId, traits);
  }
  const card = rng.chance(0.35);
  const delivery = rng.chance(0.8) ? 390 : 0;
  s.order(s.time + (60 + rng.exp(180)) * 1000, {
    order_id: `po-${s.row.key.toString(36)}-${s.row.orders + 1}`,
    revenue: product.price + delivery + (card ? 150 : 0),
    currency: "RUB",
    product_id: product.id,
    product: product.name,
    category: product.category,
    occasion,
    delivery: delivery > 0 ? "courier" : "pickup",
    card,
  });
  if (delivery > 0) s.track(s.time + (2 + rng.exp(6)) * HOUR_MS, "order_delivered", { occasion });
  if (rng.chance(0.015))
    s.refund(s.time + rng.exp(1) * DAY_MS, `po-${s.row.key.toString(36)}-${s.row.orders}`, product.price);
}

/** Later orders: the holidays this customer celebrates, and everyday occasions, until they stop ordering. */
function repeatOrders(
  s: CustomerStory,
  rng: Rng,
  userId: string,
  p: { firstName: string; email: string; phone: string },
  habits: Habits,
  calendar: readonly { occasion: Occasion; at: number }[],
): void {
  let everyday = s.time + rng.exp(365 / Math.max(habits.everydayPerYear, 0.05)) * DAY_MS;
  for (const h of calendar) {
    if (s.over || h.at <= s.time + 7 * DAY_MS) continue;
    while (everyday < h.at - 7 * DAY_MS && everyday < habits.until && !s.over) {
      browse(s, rng, everyday, 1);
      checkout(s, rng, userId, p, rng.pick(["birthday", "anniversary", "just_because"]), false);
      everyday = s.time + rng.exp(365 / Math.max(habits.everydayPerYear, 0.05)) * DAY_MS;
    }
    if (h.at > habits.until || !rng.chance(habits.holidays[h.occasion])) continue;
    const visit = h.at - (0.5 + rng.next() * 5) * DAY_MS;
    browse(s, rng, visit, 1);
    checkout(s, rng, userId, p, h.occasion, false);
  }
  unsubscribeSometimes(s, rng);
}

/** A few people tire of the messages: SMS first, email less often. */
function unsubscribeSometimes(s: CustomerStory, rng: Rng): void {
  if (s.over) return;
  const consents = s.row.consents;
  if (consents.sms?.state === "opted_in" && rng.chance(0.06))
    s.unsubscribe(s.time + rng.exp(60) * DAY_MS, "sms");
  if (consents.email?.state === "opted_in" && rng.chance(0.04)) {
    s.unsubscribe(s.time + rng.exp(90) * DAY_MS, "email");
  }
}
