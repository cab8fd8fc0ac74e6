// Export of a workspace's customers as CSV or JSON Lines, streamed page by page (keyset pagination on
// customer_id), so any number of customers is exported in constant memory. CSV cells are quoted as RFC 4180 wants,
// and text that a spreadsheet would run as a formula is neutralised with a leading apostrophe (the importer
// removes it again).
import { once } from "node:events";
import type { Writable } from "node:stream";
import type { Db } from "../store/db.ts";
import { neutraliseFormula } from "./csv-values.ts";

export type ExportFormat = "csv" | "jsonl";

export const CUSTOMER_COLUMNS = [
  "id",
  "user_id",
  "email",
  "phone",
  "telegram_chat_id",
  "timezone",
  "locale",
  "preferred_channel",
  "orders",
  "revenue",
  "aov",
  "first_order_at",
  "last_order_at",
  "first_seen_at",
  "last_seen_at",
  "consents",
  "traits",
] as const;
type ExportColumn = (typeof CUSTOMER_COLUMNS)[number];
type ExportRow = Record<ExportColumn, string | number | null | Record<string, unknown>>;

const TEXT_COLUMNS = new Set<ExportColumn>([
  "user_id",
  "email",
  "phone",
  "telegram_chat_id",
  "timezone",
  "locale",
  "preferred_channel",
  "consents",
  "traits",
]);

export async function exportCustomers(
  db: Db,
  workspaceId: number,
  out: Writable,
  opts: { format: ExportFormat; pageSize?: number },
): Promise<{ customers: number }> {
  const pageSize = opts.pageSize ?? 1000;
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, "drain");
  };
  if (opts.format === "csv") await write(`${CUSTOMER_COLUMNS.join(",")}\n`);
  let after = "0";
  let count = 0;
  for (;;) {
    const rows = await db.kysely
      .selectFrom("customers")
      .selectAll()
      .where("workspace_id", "=", workspaceId)
      .where("customer_id", ">", after)
      .orderBy("customer_id")
      .limit(pageSize)
      .execute();
    if (rows.length === 0) break;
    let text = "";
    for (const r of rows) {
      // Sums of float amounts can carry noise in the last digits (0.1 + 0.2): shown to 1/10,000.
      const revenue = Math.round(Number(r.revenue) * 10_000) / 10_000;
      const row: ExportRow = {
        id: r.customer_id,
        user_id: r.user_id,
        email: r.email,
        phone: r.phone,
        telegram_chat_id: r.telegram_chat_id,
        timezone: r.timezone,
        locale: r.locale,
        preferred_channel: r.preferred_channel,
        orders: r.orders,
        revenue,
        aov: r.orders > 0 ? Math.round((revenue / r.orders) * 100) / 100 : null,
        first_order_at: iso(r.first_order_at),
        last_order_at: iso(r.last_order_at),
        first_seen_at: iso(r.first_seen_at),
        last_seen_at: iso(r.last_seen_at),
        consents: r.consents,
        traits: r.traits,
      };
      text += opts.format === "csv" ? csvLine(row) : `${JSON.stringify(row)}\n`;
    }
    await write(text);
    count += rows.length;
    after = (rows[rows.length - 1] as { customer_id: string }).customer_id;
    if (rows.length < pageSize) break;
  }
  return { customers: count };
}

function iso(d: Date | string | null): string | null {
  if (d === null) return null;
  return (typeof d === "string" ? new Date(d) : d).toISOString();
}

function csvLine(row: ExportRow): string {
  return `${CUSTOMER_COLUMNS.map((c) => {
    const v = row[c];
    if (v === null || v === undefined) return "";
    const text = typeof v === "object" ? JSON.stringify(v) : String(v);
    return csvCell(TEXT_COLUMNS.has(c) ? neutraliseFormula(text) : text);
  }).join(",")}\n`;
}

export function csvCell(v: string): string {
  return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}
