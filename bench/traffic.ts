// Realistic Segment traffic for the ingestion benchmark, generated from a seeded PRNG: anonymous visitors who
// browse, some of whom identify and buy.
export const BATCH_SIZE = 500;

export interface Batch {
  /** `{"sentAt":"<24 chars>","batch":[...]}`; sentAt is written in place just before sending */
  body: Buffer;
  events: number;
}

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface GenOptions {
  seed: number;
  events: number;
  users: number;
  /** concurrently active sessions */
  sessions: number;
  /** first timestamp (ms) */
  t0: number;
  spanMs: number;
}

export type Msg = Record<string, unknown>;

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = [
  "Anna",
  "Ben",
  "Chloe",
  "David",
  "Emma",
  "Felix",
  "Grace",
  "Hugo",
  "Ines",
  "Jonas",
  "Kira",
  "Liam",
  "Mia",
  "Noah",
  "Olga",
  "Paul",
  "Rosa",
  "Sven",
  "Tara",
  "Yuki",
];
const LAST = [
  "Schmidt",
  "Martin",
  "Garcia",
  "Rossi",
  "Smith",
  "Dubois",
  "Kowalski",
  "Jansen",
  "Silva",
  "Tanaka",
  "Nielsen",
  "Novak",
  "Brown",
  "Moreau",
  "Weber",
  "Costa",
];
const PLANS = ["free", "starter", "pro", "business"];
const LOCALES: [string, string, string][] = [
  ["en-US", "America/New_York", "us"],
  ["en-US", "America/Los_Angeles", "us"],
  ["en-GB", "Europe/London", "gb"],
  ["de-DE", "Europe/Berlin", "de"],
  ["fr-FR", "Europe/Paris", "fr"],
  ["es-ES", "Europe/Madrid", "es"],
  ["pt-BR", "America/Sao_Paulo", "br"],
  ["ja-JP", "Asia/Tokyo", "jp"],
  ["nl-NL", "Europe/Amsterdam", "nl"],
  ["it-IT", "Europe/Rome", "it"],
];
const AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
  "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
];
const CATEGORIES = ["Shoes", "Apparel", "Accessories", "Electronics", "Home", "Beauty", "Sports", "Toys"];
const ADJECTIVES = ["Classic", "Urban", "Eco", "Pro", "Vintage", "Smart", "Cozy", "Ultra", "Trail", "Studio"];
const NOUNS = [
  "Sneaker",
  "Jacket",
  "Backpack",
  "Headphones",
  "Lamp",
  "Serum",
  "Bottle",
  "Watch",
  "Mug",
  "Hoodie",
];
const BRANDS = ["Northwind", "Acme", "Globex", "Initech", "Umbrella", "Hooli"];
const REFERRERS = [
  "https://www.google.com/",
  "https://www.bing.com/",
  "https://t.co/",
  "https://www.instagram.com/",
  "https://news.ycombinator.com/",
  "",
  "",
  "",
];
const SITE = "https://shop.example.com";

interface Product {
  id: string;
  name: string;
  slug: string;
  category: string;
  brand: string;
  price: number;
}

interface User {
  index: number;
  anonymousId: string;
  userId: string;
  identified: boolean;
  first: string;
  last: string;
  plan: string;
  locale: [string, string, string];
  ip: string;
  agent: string;
  phone: string;
  lastUrl: string;
  cart: Product[];
}

/**
 * Emits `events` Segment messages in order. Visitors browse in sessions (a pool of `sessions` concurrent ones, ~8
 * events each); a session is a new visitor with probability 0.8 until `users` exist, else a returning one. Each
 * visitor is anonymous (anonymousId) until an identify call links a userId; later calls carry both.
 * Mix: 10 % identify, 60 % browsing (page 35, Product Viewed 17, Product List Viewed 5, Products Searched 3),
 * 25 % cart and checkout (Added to Cart 12, Product Removed 3, Cart Viewed 5, Checkout Started 5), 5 % orders.
 */
export function generateEvents(g: GenOptions, emit: (m: Msg, userIndex: number) => void): void {
  const rnd = mulberry32(g.seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const hex = (n: number) => {
    let s = "";
    for (let i = 0; i < n; i++) s += "0123456789abcdef"[int(16)];
    return s;
  };
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[int(4)]}${hex(3)}-${hex(12)}`;
  const products: Product[] = Array.from({ length: 400 }, (_, i) => {
    const name = `${pick(ADJECTIVES)} ${pick(NOUNS)}`;
    return {
      id: `SKU-${String(10_000 + i)}`,
      name,
      slug: `${name.toLowerCase().replace(/ /g, "-")}-${10_000 + i}`,
      category: pick(CATEGORIES),
      brand: pick(BRANDS),
      price: Math.round((5 + rnd() * 195) * 100) / 100,
    };
  });
  const users: User[] = [];
  const newUser = (): User => {
    const index = users.length;
    const locale = pick(LOCALES);
    const u: User = {
      index,
      anonymousId: uuid(),
      userId: `usr_${(index * 7919 + 104_729).toString(36)}${hex(4)}`,
      identified: false,
      first: pick(FIRST),
      last: pick(LAST),
      plan: pick(PLANS),
      locale,
      ip: `${int(223) + 1}.${int(256)}.${int(256)}.${int(254) + 1}`,
      agent: pick(AGENTS),
      phone: phoneFor(locale[2], int),
      lastUrl: pick(REFERRERS),
      cart: [],
    };
    users.push(u);
    return u;
  };
  const sessionUser = (): User =>
    users.length < g.users && (users.length === 0 || rnd() < 0.8)
      ? newUser()
      : (users[int(users.length)] as User);
  const sessions: User[] = Array.from({ length: g.sessions }, sessionUser);

  for (let i = 0; i < g.events; i++) {
    const slot = int(sessions.length);
    const u = sessions[slot] as User;
    if (rnd() < 1 / 8) sessions[slot] = sessionUser();
    const ts = new Date(g.t0 + Math.floor((i / g.events) * g.spanMs) + int(1000)).toISOString();
    const r = rnd() * 100;
    const product = pick(products);
    let path: string;
    let title: string;
    let m: Msg;
    if (r < 10) {
      // identify: the first one links the anonymous visitor to a user id; later ones update traits
      const email = `${u.first}.${u.last}${u.index}@example.com`.toLowerCase();
      if (u.identified && rnd() < 0.5) u.plan = pick(PLANS);
      u.identified = true;
      path = "/account";
      title = "Your account | Example Shop";
      m = {
        type: "identify",
        traits: {
          email,
          phone: u.phone,
          first_name: u.first,
          last_name: u.last,
          name: `${u.first} ${u.last}`,
          plan: u.plan,
          consent: { email: rnd() < 0.7, sms: rnd() < 0.3 },
          address: { country: u.locale[2].toUpperCase() },
        },
      };
    } else if (r < 45) {
      const kind = int(4);
      if (kind === 0) {
        path = "/";
        title = "Example Shop";
      } else if (kind === 1) {
        path = `/category/${product.category.toLowerCase()}`;
        title = `${product.category} | Example Shop`;
      } else {
        path = `/products/${product.slug}`;
        title = `${product.name} | Example Shop`;
      }
      m = {
        type: "page",
        name: kind === 0 ? "Home" : kind === 1 ? "Category" : "Product",
        properties: { path, url: SITE + path, referrer: u.lastUrl, title, search: "" },
      };
    } else if (r < 70) {
      path = `/products/${product.slug}`;
      title = `${product.name} | Example Shop`;
      let event: string;
      let properties: Msg;
      if (r < 62) {
        event = "Product Viewed";
        properties = productProps(product, 1);
      } else if (r < 67) {
        event = "Product List Viewed";
        path = `/category/${product.category.toLowerCase()}`;
        properties = { list_id: `${product.category.toLowerCase()}-all`, category: product.category };
      } else {
        event = "Products Searched";
        path = `/search?q=${encodeURIComponent(product.name.split(" ")[1] ?? "")}`;
        properties = { query: product.name.split(" ")[1] };
      }
      m = { type: "track", event, properties };
    } else if (r < 95) {
      path = "/cart";
      title = "Cart | Example Shop";
      let event: string;
      let properties: Msg;
      if (r < 82) {
        event = "Added to Cart";
        u.cart.push(product);
        if (u.cart.length > 5) u.cart.shift();
        properties = { cart_id: `cart_${u.index}`, ...productProps(product, 1 + int(2)) };
      } else if (r < 85) {
        event = "Product Removed";
        const p = u.cart.pop() ?? product;
        properties = {
          cart_id: `cart_${u.index}`,
          product_id: p.id,
          name: p.name,
          price: p.price,
          quantity: 1,
        };
      } else if (r < 90) {
        event = "Cart Viewed";
        properties = { cart_id: `cart_${u.index}`, products: u.cart.slice(-2).map((p) => p.id) };
      } else {
        event = "Checkout Started";
        path = "/checkout";
        title = "Checkout | Example Shop";
        properties = { cart_id: `cart_${u.index}`, value: cartValue(u.cart, product), currency: "USD" };
      }
      m = { type: "track", event, properties };
    } else {
      path = "/checkout/complete";
      title = "Thank you | Example Shop";
      const items = (u.cart.length > 0 ? u.cart.slice(-3) : [product]).map((p) => ({
        product_id: p.id,
        name: p.name,
        price: p.price,
        quantity: 1,
      }));
      const subtotal = items.reduce((s, p) => s + p.price, 0);
      const revenue = Math.round(subtotal * 100) / 100;
      m = {
        type: "track",
        event: "order_completed",
        properties: {
          order_id: `ord_${i.toString(36)}`,
          revenue,
          tax: Math.round(revenue * 8) / 100,
          shipping: 4.99,
          currency: "USD",
          products: items,
        },
      };
      u.cart = [];
    }
    const url = SITE + path;
    const msg: Msg = {
      ...(u.identified ? { userId: u.userId } : {}),
      anonymousId: u.anonymousId,
      messageId: uuid(),
      timestamp: ts,
      ...m,
      context: {
        ip: u.ip,
        userAgent: u.agent,
        locale: u.locale[0],
        timezone: u.locale[1],
        library: { name: "analytics.js", version: "next-1.70.0" },
        page: { path, url, referrer: u.lastUrl, title },
      },
    };
    u.lastUrl = url;
    emit(msg, u.index);
  }
}

function productProps(p: Product, quantity: number): Msg {
  return {
    product_id: p.id,
    sku: `${p.id}-${quantity}`,
    name: p.name,
    category: p.category,
    brand: p.brand,
    price: p.price,
    currency: "USD",
    quantity,
  };
}

function cartValue(cart: Product[], fallback: Product): number {
  const items = cart.length > 0 ? cart : [fallback];
  return Math.round(items.reduce((s, p) => s + p.price, 0) * 100) / 100;
}

function phoneFor(country: string, int: (n: number) => number): string {
  const d = (n: number) => Array.from({ length: n }, () => int(10)).join("");
  switch (country) {
    case "de":
      return `+49 30 ${d(8)}`;
    case "fr":
      return `+33 6 ${d(2)} ${d(2)} ${d(2)} ${d(2)}`;
    case "gb":
      return `+44 7911 ${d(6)}`;
    case "us":
      return `+1 212-${2 + int(8)}${d(2)}-${d(4)}`;
    default:
      return `+1 646-${2 + int(8)}${d(2)}-${d(4)}`;
  }
}

export function generateBatches(g: GenOptions): {
  batches: Batch[];
  bytes: number;
  distinctUsers: number;
  mix: Record<string, number>;
} {
  const batches: Batch[] = [];
  const mix: Record<string, number> = {};
  const seen = new Set<number>();
  let bytes = 0;
  let pending: string[] = [];
  const flush = () => {
    const body = `{"sentAt":"${new Date(0).toISOString()}","batch":[${pending.join(",")}]}`;
    batches.push({ body: Buffer.from(body), events: pending.length });
    pending = [];
  };
  generateEvents(g, (m, userIndex) => {
    const json = JSON.stringify(m);
    bytes += json.length;
    seen.add(userIndex);
    const kind = m.type === "track" ? (m.event as string) : (m.type as string);
    mix[kind] = (mix[kind] ?? 0) + 1;
    pending.push(json);
    if (pending.length === BATCH_SIZE) flush();
  });
  if (pending.length > 0) flush();
  for (const k of Object.keys(mix)) mix[k] = round(((mix[k] as number) / g.events) * 100, 1);
  return { batches, bytes, distinctUsers: seen.size, mix };
}
