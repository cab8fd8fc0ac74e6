// A synthetic customer base of the online school (see strategy.yaml): anonymous visitors reading about the
// courses, leads from the sign-up form (double opt-in) and the Telegram bot, consultations, first and repeat
// buyers of the two courses and of paid consultations, promotions, refunds, unsubscribes, partners.
// Deterministic: the same options give the same base, streamed in batches of whole customers.
import { type Person, person } from "../fictional-people.ts";
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
const PAGES: Record<string, Page[]> = {
  home: [page("home", "/", "Data School")],
  python: [
    page("python", "/python", "Python for analysts"),
    page("python", "/python/programme", "Python for analysts: programme"),
    page("python", "/python/reviews", "Python for analysts: reviews"),
  ],
  "data-engineering": [
    page("data-engineering", "/data-engineering", "Data engineering"),
    page("data-engineering", "/data-engineering/programme", "Data engineering: programme"),
  ],
  consultation: [page("consultation", "/consultation", "Consultations")],
  pricing: [page("pricing", "/pricing", "Prices and payment")],
  blog: [
    page("blog", "/blog/pandas-tips", "Ten pandas tricks"),
    page("blog", "/blog/sql-for-analysts", "SQL for analysts"),
    page("blog", "/blog/airflow-intro", "Airflow in one evening"),
    page("blog", "/blog/career-in-data", "How to start a career in data"),
  ],
  partners: [page("partners", "/partners", "Partner programme")],
};

/** What a visitor interested in one course reads: the course 5 times as often as pricing. */
const reading = (interest: string): (readonly [Page[], number])[] =>
  (
    [
      [interest, 5],
      ["home", 2],
      ["blog", 3],
      ["pricing", 1],
      ["consultation", 1],
    ] as const
  ).map(([section, weight]) => [PAGES[section] ?? [], weight] as const);
const PYTHON_READING = reading("python");
const DATA_ENG_READING = reading("data-engineering");

interface Product {
  id: string;
  name: string;
  category: "course" | "consultation";
  price: number;
}

const PYTHON: Product = {
  id: "python-for-analysts",
  name: "Python for analysts",
  category: "course",
  price: 39_900,
};
const DATA_ENG: Product = {
  id: "data-engineering",
  name: "Data engineering",
  category: "course",
  price: 89_900,
};
const CONSULT: Product = {
  id: "career-consultation",
  name: "Career consultation",
  category: "consultation",
  price: 3_900,
};

/** Promotions: [month (0-based), first day, last day, code, discount] — a spring sale, Black Friday, New Year. */
const PROMOTIONS = [
  [3, 1, 10, "SPRING30", 0.3],
  [10, 24, 30, "BLACKFRIDAY", 0.25],
  [11, 20, 31, "NEWYEAR20", 0.2],
] as const;

export function generate(opts: GenerateOptions): Generator<Batch> {
  return generateBase(opts, "school", 0x5c4001, schoolCustomer);
}

function schoolCustomer(s: CustomerStory, rng: Rng, arrival: number): void {
  const key = s.row.key;
  const interest = rng.chance(0.6) ? "python" : "data-engineering";
  const viaBot = rng.chance(0.25);
  const depth = rng.next(); // how far down the funnel this person goes
  const userId = String(100_000 + key);
  const p = person(rng, key);
  let t = arrival;
  if (viaBot) {
    s.anonymousId(`tg-${rng.uuid()}`);
    s.track(t, "bot_started", { source: rng.pick(["channel_post", "ads", "friend", "search"]) });
    if (depth < 0.35) {
      botDropout(s, rng);
      return;
    }
    signUpInBot(s, rng, p, userId);
  } else {
    s.anonymousId(rng.uuid());
    t = browse(s, rng, t, interest, depth < 0.45 ? rng.int(1, 5) : rng.int(1, 3));
    if (depth < 0.45) return;
    signUpOnSite(s, rng, p, userId);
  }
  if (s.over) return;
  const engagement = 5 + rng.exp(12); // mean days between visits
  const activeUntil = s.time + (30 + rng.exp(150)) * DAY_MS;
  const buys = depth > 0.72;
  const firstOrderAt = s.time + (1 + rng.exp(25)) * DAY_MS;
  let next = s.time + rng.exp(engagement) * DAY_MS;
  let ordered = false;
  while (!s.over && next < activeUntil) {
    if (buys && !ordered && next >= firstOrderAt) {
      ordered = true;
      purchases(s, rng, interest, userId);
      continue;
    }
    session(s, rng, next, interest, p, userId);
    next = s.time + rng.exp(engagement) * DAY_MS;
  }
  if (buys && !ordered && !s.over) purchases(s, rng, interest, userId);
}

function botDropout(s: CustomerStory, rng: Rng): void {
  if (rng.chance(0.5)) s.track(s.time + rng.exp(10) * 60_000, "bot_blocked", {});
}

/** Anonymous reading: a few visits of a few pages, mostly about the course of interest. */
function browse(s: CustomerStory, rng: Rng, t: number, interest: string, visits: number): number {
  let at = t;
  for (let v = 0; v < visits && !s.over; v++) {
    const pages = rng.int(1, 6);
    for (let p = 0; p < pages; p++) {
      const pg = rng.pick(rng.weighted(interest === "python" ? PYTHON_READING : DATA_ENG_READING));
      s.page(at, pg.name, pg.properties);
      at = s.time + (20 + rng.exp(90)) * 1000;
    }
    at = s.time + (0.5 + rng.exp(6)) * DAY_MS;
  }
  return at;
}

function signUpOnSite(s: CustomerStory, rng: Rng, p: Person, userId: string): void {
  const t = s.time + (10 + rng.exp(120)) * 1000;
  const withPhone = rng.chance(0.6);
  if (
    !s.track(t, "signed_up", { source: "web_form", form: rng.pick(["free_lesson", "webinar", "newsletter"]) })
  ) {
    return;
  }
  const traits: Record<string, unknown> = {
    first_name: p.firstName,
    last_name: p.lastName,
    email: p.email,
    source: "web_form",
  };
  if (withPhone) traits.phone = p.phone;
  if (rng.chance(0.06)) traits.company = rng.pick(["Acme Retail", "Northwind", "Globex Bank", "Initech"]);
  s.identify(s.time + 500, userId, traits);
  // Double opt-in: most confirm the email within the hour; the rest stay unconfirmed.
  if (rng.chance(0.85)) {
    s.track(s.time + rng.exp(20) * 60_000, "subscription_confirmed", { channel: "email" });
    const consent: Record<string, string> = { email: "opted_in" };
    if (withPhone && rng.chance(0.5)) consent.sms = "opted_in";
    s.identify(s.time + 300, userId, { consent });
  }
}

function signUpInBot(s: CustomerStory, rng: Rng, p: Person, userId: string): void {
  const chat = String(100_000_000 + s.row.key * 7 + rng.int(0, 6));
  if (!s.track(s.time + rng.exp(5) * 60_000, "signed_up", { source: "telegram_bot" })) return;
  s.identify(s.time + 500, userId, {
    first_name: p.firstName,
    telegram_chat_id: chat,
    source: "telegram_bot",
    preferred_channel: "telegram",
    consent: { telegram: "opted_in" },
  });
  if (rng.chance(0.4)) {
    // later shares an email and phone to get the free lesson
    s.identify(s.time + rng.exp(3) * DAY_MS, userId, {
      email: p.email,
      phone: p.phone,
      consent: { telegram: "opted_in", email: "opted_in" },
    });
  }
}

/** A later visit of a known lead: reading, a webinar, a lesson, now and then a consultation or an unsubscribe. */
function session(s: CustomerStory, rng: Rng, t: number, interest: string, p: Person, userId: string): void {
  const what = rng.next();
  if (what < 0.12) {
    s.track(t, "webinar_attended", { topic: interest, minutes: rng.int(10, 90) });
  } else if (what < 0.22) {
    s.track(t, "lesson_viewed", { course: interest, lesson: rng.int(1, 12), free: true });
  } else if (what < 0.26) {
    // The booking form asks for a phone and for permission to call.
    s.track(t, "consultation_booked", { topic: interest });
    s.identify(s.time + 300, userId, { phone: s.row.phone ?? p.phone, consent: { call: "opted_in" } });
    s.track(s.time + (1 + rng.exp(30)) * HOUR_MS, "consultation_completed", { topic: interest });
  } else if (what < 0.275 && s.row.email !== null && s.row.consents.email?.state === "opted_in") {
    s.unsubscribe(t, "email");
  } else {
    browse(s, rng, t, interest, 1);
  }
}

/** The first order and the ones that follow, with promotions, refunds and the partner programme. */
function purchases(s: CustomerStory, rng: Rng, interest: string, userId: string): void {
  let product = rng.weighted([
    [interest === "python" ? PYTHON : DATA_ENG, 80],
    [CONSULT, 20],
  ] as const);
  let t = s.time + rng.exp(2) * HOUR_MS;
  for (let n = 1; n <= 6 && !s.over; n++) {
    const pg =
      PAGES[
        product.id === CONSULT.id ? "consultation" : product.id === PYTHON.id ? "python" : "data-engineering"
      ];
    const view = pg?.[0];
    if (view) s.page(t, view.name, view.properties);
    const at = promoTime(rng, s.time + rng.exp(30) * 60_000);
    const promo = promotionAt(at);
    const revenue = promo ? Math.round(product.price * (1 - promo.discount)) : product.price;
    const orderId = `o-${s.row.key.toString(36)}-${n}`;
    const props: Record<string, unknown> & { revenue: number } = {
      order_id: orderId,
      revenue,
      currency: "RUB",
      product_id: product.id,
      product: product.name,
      category: product.category,
      payment: rng.pick(["card", "card", "installments", "invoice"]),
    };
    if (promo) props.promo_code = promo.code;
    if (!s.order(at, props)) return;
    if (product.category === "course" && rng.chance(0.04)) {
      s.refund(s.time + rng.exp(5) * DAY_MS, orderId, revenue);
    } else if (product.category === "course") {
      s.track(s.time + rng.exp(7) * DAY_MS, "course_started", { course: product.id });
      if (rng.chance(0.55))
        s.track(s.time + (50 + rng.exp(40)) * DAY_MS, "course_completed", { course: product.id });
    }
    if (n >= 2 && s.row.traits.partner !== true && rng.chance(0.2)) {
      s.page(
        s.time + rng.exp(10) * DAY_MS,
        "Partner programme",
        (PAGES.partners?.[0] ?? PAGES.home?.[0])?.properties ?? {},
      );
      s.track(s.time + rng.exp(2) * HOUR_MS, "partner_joined", { programme: "partners" });
      s.identify(s.time + 500, userId, { partner: true });
    }
    if (!rng.chance(n === 1 ? 0.4 : 0.35)) return;
    product = nextProduct(rng, product);
    t = s.time + (14 + rng.exp(70)) * DAY_MS;
  }
}

function nextProduct(rng: Rng, last: Product): Product {
  if (last.id === PYTHON.id) return rng.chance(0.65) ? DATA_ENG : CONSULT;
  if (last.id === DATA_ENG.id) return rng.chance(0.7) ? CONSULT : PYTHON;
  return rng.chance(0.5) ? PYTHON : rng.chance(0.5) ? DATA_ENG : CONSULT;
}

/** Some buyers wait for a promotion that starts within a month. */
function promoTime(rng: Rng, t: number): number {
  if (!rng.chance(0.35)) return t;
  for (let ahead = 0; ahead <= 30; ahead++) {
    const day = t + ahead * DAY_MS;
    if (promotionAt(day)) return ahead === 0 ? t : day + rng.next() * 2 * DAY_MS;
  }
  return t;
}

function promotionAt(t: number): { code: string; discount: number } | null {
  const d = new Date(t);
  const month = d.getUTCMonth();
  const day = d.getUTCDate();
  for (const [m, from, to, code, discount] of PROMOTIONS) {
    if (month === m && day >= from && day <= to) return { code, discount };
  }
  return null;
}
