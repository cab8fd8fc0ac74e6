// The broadcast benchmark's world: a synthetic base of customers with email addresses, phones, consents and time
// zones (loaded by COPY, no events), the messages they were sent in the week before (so the frequency rules and
// the minimum gap have history to judge), and a strategy with every communication rule on and two scheduled
// scenarios at the same local time, the higher-priority one for a tenth of the base.
import { type Batch, emptyCustomer, type SyntheticCustomer } from "../src/store/bulk-load.ts";
import type { Queryable } from "../src/store/customers.ts";

/** The occurrence: 10:00 local on this date, for every customer in their own zone. */
export const BROADCAST_DATE = "2027-03-16";
export const BROADCAST_TIME = "10:00";
/** When the strategy is applied (the day before) and the messages the customers were sent earlier are dated. */
export const APPLIED_AT = new Date("2027-03-15T12:00:00Z");
/** The first moment every customer's 10:00 has come (New York, UTC-4 after 14 March), and none is in quiet hours. */
export const ALL_DUE_AT = new Date("2027-03-16T14:01:00Z");

const ZONES: [string | null, number][] = [
  ["Europe/Berlin", 0.4],
  ["Europe/London", 0.2],
  ["Europe/Moscow", 0.15],
  ["America/New_York", 0.15],
  [null, 0.1], // the workspace's zone
];
const FIRST_NAMES = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas"];

/** A number in [0, 1) fixed by the customer and the question asked (`salt`). */
function unit(key: number, salt: number): number {
  let h = Math.imul(key ^ Math.imul(salt, 0x9e3779b1), 0x85ebca77);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae3d);
  h ^= h >>> 16;
  return (h >>> 0) / 4_294_967_296;
}

function zoneOf(key: number): string | null {
  let u = unit(key, 1);
  for (const [zone, share] of ZONES) {
    if (u < share) return zone;
    u -= share;
  }
  return null;
}

/**
 * One customer: everyone has an email address; 88% opted in to email, 4% unsubscribed, the rest never said; 30%
 * gave a phone, 70% of them opted in to SMS; 10% are VIPs.
 */
export function customer(key: number): SyntheticCustomer {
  const c = emptyCustomer(key);
  const at = "2026-06-01T00:00:00Z";
  const email = unit(key, 2);
  const phone = unit(key, 3) < 0.3;
  c.userId = `u${key}`;
  c.email = `c${key}@example.com`;
  if (email < 0.88) c.consents.email = { state: "opted_in", at };
  else if (email < 0.92) c.consents.email = { state: "unsubscribed", at };
  if (phone) {
    c.phone = `+4915${String(100_000_000 + key).slice(-9)}`;
    if (unit(key, 4) < 0.7) c.consents.sms = { state: "opted_in", at };
  }
  c.timezone = zoneOf(key);
  c.traits = { first_name: FIRST_NAMES[key % FIRST_NAMES.length] };
  if (unit(key, 5) < 0.1) c.traits.vip = true;
  c.firstSeenAt = new Date("2026-06-01T00:00:00Z");
  c.lastSeenAt = new Date("2027-03-01T00:00:00Z");
  c.traitsUpdatedAt = c.lastSeenAt;
  return c;
}

/** The base in batches of whole customers, as `loadSynthetic` takes it. */
export function* customerBatches(n: number, per = 5_000): Generator<Batch> {
  for (let from = 0; from < n; from += per) {
    const customers: SyntheticCustomer[] = [];
    for (let key = from; key < Math.min(n, from + per); key++) customers.push(customer(key));
    yield { customers, events: [] };
  }
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Emails sent before the broadcast, by a scenario no longer in the strategy: 30% of customers got one 2–6 days
 * ago (allowed), 5% got three this week (the 3-per-7-days cap), 3% one two hours ago (the 4-hour gap and the
 * 1-per-day cap). Returns how many were written.
 */
export async function writeHistory(client: Queryable, ws: number, dueAt: Date): Promise<number> {
  const insert = (bucket: string, ago: string) =>
    client.query(
      `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, kind, channel, template, fate,
                             reason, priority, planned_at, due_at, sent_at, updated_at)
       SELECT $1, c.customer_id, 'earlier_news', -(c.customer_id * 4 + a.k), '0', 'marketing', 'email',
              'earlier_news', 'sent', 'only_channel', 50, t.at, t.at, t.at, t.at
         FROM customers c
        CROSS JOIN LATERAL (VALUES ${ago}) AS a(k, ms)
        CROSS JOIN LATERAL (SELECT $2::timestamptz - make_interval(secs => a.ms / 1000.0) AS at) t
        WHERE c.workspace_id = $1 AND ${bucket}`,
      [ws, dueAt],
    );
  const b = "((c.customer_id * 7919) % 100)";
  const written = [
    await insert(`${b} < 30`, `(0, ${2 * DAY} + (c.customer_id % 5) * ${DAY})`),
    await insert(`${b} >= 30 AND ${b} < 35`, `(0, ${DAY + HOUR}), (1, ${3 * DAY}), (2, ${5 * DAY})`),
    await insert(`${b} >= 35 AND ${b} < 38`, `(0, ${2 * HOUR})`),
  ];
  await client.query("ANALYZE messages");
  return written.reduce((n, r) => n + (r.rowCount ?? 0), 0);
}

const NEWSLETTER = `<mjml>
  <mj-head>
    <mj-title>Spring collection</mj-title>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="16px" line-height="24px" color="#1f2933" />
    </mj-attributes>
  </mj-head>
  <mj-body background-color="#f4f6f8">
    <mj-section background-color="#ffffff" padding="24px">
      <mj-column>
        <mj-text font-size="22px" font-weight="bold">The spring collection is here</mj-text>
        <mj-text>Hi {{ customer.first_name | default: 'friend' }},</mj-text>
        <mj-text>Tulips, peonies and ranunculus, fresh from the growers every morning. Order by noon and they arrive
          the same day.</mj-text>
        <mj-button background-color="#2563eb" href="https://shop.example/spring">See the collection</mj-button>
      </mj-column>
    </mj-section>
    <mj-section padding="12px">
      <mj-column>
        <mj-text font-size="12px" color="#6b7280">Flower Shop. You receive this because you subscribed at
          shop.example. <a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;

/** The newsletter's layout with its two variables filled in: the bare nodemailer loop sends this. */
export function newsletterSource(firstName: string, unsubscribeUrl: string): string {
  return NEWSLETTER.replace("{{ customer.first_name | default: 'friend' }}", firstName).replace(
    "{{ unsubscribe_url }}",
    unsubscribeUrl,
  );
}

const indent = (text: string, by: string) => text.replace(/\n/g, `\n${by}`);

/** The strategy: every rule on, an SMTP channel to the counting server and an SMS channel into a sink. */
export function strategy(smtpPort: number, pool: number, smsCapacity: boolean): string {
  return `version: 1
name: Spring broadcast
timezone: Europe/Berlin
currency: EUR
goals:
  purchase: { event: order_completed, window: 7d, target: 5% }
channels:
  email: { provider: smtp, host: 127.0.0.1, port: ${smtpPort}, from: "Flower Shop <news@shop.example>", cost: 0.001, pool: ${pool} }
  sms: { provider: sink, contact: phone, cost: 0.05${smsCapacity ? ", capacity: 100000/day" : ""} }
rules:
  consent: opt_in
  quiet_hours: "21:00-09:00"
  frequency:
    - { max: 3, per: 7d }
    - { max: 1, per: 1d }
  min_gap: 4h
  control_group: 5%
  channel_order: [email, sms]
scenarios:
  spring_news:
    goal: purchase
    priority: 30
    trigger: { schedule: { at: "${BROADCAST_DATE} ${BROADCAST_TIME}" } }
    steps:
      - send: spring_news
        via: [email, sms]
  vip_preview:
    goal: purchase
    priority: 80
    audience: "traits.vip == true"
    trigger: { schedule: { at: "${BROADCAST_DATE} ${BROADCAST_TIME}" } }
    steps:
      - send: vip_preview
        via: [email]
templates:
  spring_news:
    email:
      subject: "Spring is here, {{ customer.first_name | default: 'friend' }}"
      html: |
        ${indent(NEWSLETTER, "        ")}
    sms: { text: "Flower Shop: the spring collection is here, same-day delivery. shop.example/spring" }
  vip_preview:
    email:
      subject: "{{ customer.first_name | default: 'Dear friend' }}, a first look at spring"
      html: |
        ${indent(NEWSLETTER.replace("The spring collection is here", "Before everyone else: spring"), "        ")}
`;
}
