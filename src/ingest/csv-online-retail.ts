// The `online-retail` preset: the UCI Online Retail layout (one row per invoice line) turned into one
// `order_completed` per invoice, or `order_refunded` for a cancellation (InvoiceNo starting with C), with revenue
// = Σ Quantity × UnitPrice computed exactly in 1/10,000 of a unit; plus one `identify` per customer carrying the
// country. Rows without a CustomerID are skipped and counted.

import { type Converter, type ConverterOutput, MissingColumnError } from "./csv-mapping.ts";
import type { CsvRecord } from "./csv-source.ts";
import { parseInteger, parseNumber, parseTimestamp } from "./csv-values.ts";

const COLUMNS = [
  "InvoiceNo",
  "StockCode",
  "Quantity",
  "InvoiceDate",
  "UnitPrice",
  "CustomerID",
  "Country",
] as const;
type Col = (typeof COLUMNS)[number];

/**
 * An invoice's rows are normally contiguous, but need not be: an invoice is held until no row of it has come for
 * this many rows. A row that comes later still is reported, not silently turned into a second order.
 */
const WINDOW_ROWS = 10_000;
const PRICE_SCALE = 10_000;

type CheckedRow = { ok: true; date: Date; quantity: number; price: number } | { ok: false; reason: string };

interface Invoice {
  no: string;
  customer: string;
  country: string;
  at: Date;
  line: number;
  firstOrdinal: number;
  lastOrdinal: number;
  rows: number;
  /** Σ Quantity × UnitPrice in 1/PRICE_SCALE units: exact for prices with up to 4 decimals */
  amount: number;
  quantity: number;
  products: Set<string>;
  bad: { line: number } | undefined;
}

export class OnlineRetailConverter implements Converter {
  readonly columns: Record<string, string> = {
    InvoiceNo: "one order per invoice (messageId import:invoice:<InvoiceNo>)",
    StockCode: "properties.products",
    Quantity: "properties.quantity, revenue",
    UnitPrice: "revenue",
    InvoiceDate: "timestamp (UTC)",
    CustomerID: "userId",
    Country: "trait country, properties.country",
  };
  readonly ignored: string[];
  readonly signature = "preset:online-retail";
  private readonly at: Record<Col, number>;
  private readonly width: number;
  private readonly open = new Map<string, Invoice>();
  private readonly closed = new Map<string, number>();
  private readonly customers = new Set<string>();
  private current = "";
  private lastDate: { text: string; date: Date | undefined; reason: string } = {
    text: "",
    date: undefined,
    reason: "",
  };

  constructor(header: string[]) {
    const names = header.map((h) => h.trim());
    const missing = COLUMNS.filter((c) => !names.includes(c));
    if (missing.length > 0) {
      throw new MissingColumnError(
        `missing column${missing.length > 1 ? "s" : ""} ${missing.map((m) => `'${m}'`).join(", ")} for the online-retail preset; ` +
          `the file has: ${names.join(", ")}`,
      );
    }
    this.at = Object.fromEntries(COLUMNS.map((c) => [c, names.indexOf(c)])) as Record<Col, number>;
    this.ignored = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
    this.width = names.length;
  }

  private cell(f: string[], c: Col): string {
    return (f[this.at[c]] ?? "").trim();
  }

  push(rec: CsvRecord, ordinal: number, out: ConverterOutput): void {
    const f = rec.fields;
    if (f.length < this.width) {
      out.reject(rec.line, `the row has ${f.length} fields, the header has ${this.width}`);
      return;
    }
    let customer = this.cell(f, "CustomerID");
    if (customer === "") {
      out.skip("no CustomerID");
      return;
    }
    if (customer.endsWith(".0")) customer = customer.replace(/^(\d+)\.0+$/, "$1");
    const no = this.cell(f, "InvoiceNo");
    if (no === "") {
      out.reject(rec.line, "InvoiceNo is empty");
      return;
    }
    if (no !== this.current) this.flushOlderThan(ordinal - WINDOW_ROWS, out);

    const closedAt = this.closed.get(no);
    if (closedAt !== undefined) {
      out.reject(
        rec.line,
        `invoice ${no}: this row comes more than ${WINDOW_ROWS} rows after the invoice's other rows (from line ${closedAt}), which were imported without it`,
      );
      return;
    }
    let inv = this.open.get(no);
    const row = this.checkRow(f, inv, customer);
    if (!inv) {
      inv = {
        no,
        customer,
        country: this.cell(f, "Country"),
        at: new Date(0),
        line: rec.line,
        firstOrdinal: ordinal,
        lastOrdinal: ordinal,
        rows: 0,
        amount: 0,
        quantity: 0,
        products: new Set(),
        bad: undefined,
      };
    }
    if (no !== this.current) {
      // Re-inserted last whenever it becomes the current invoice: the map stays ordered by each invoice's latest row.
      this.open.delete(no);
      this.open.set(no, inv);
      this.current = no;
    }
    inv.lastOrdinal = ordinal;
    if (!row.ok) {
      out.reject(rec.line, row.reason);
      inv.bad ??= { line: rec.line };
      return;
    }
    inv.rows++;
    inv.amount += row.quantity * row.price;
    inv.quantity += row.quantity;
    if (inv.rows === 1 || row.date < inv.at) inv.at = row.date;
    const code = this.cell(f, "StockCode");
    if (code) inv.products.add(code);
  }

  private checkRow(f: string[], inv: Invoice | undefined, customer: string): CheckedRow {
    if (inv && inv.customer !== customer) {
      return {
        ok: false,
        reason: `CustomerID ${customer} differs from ${inv.customer} on the other rows of invoice ${inv.no}`,
      };
    }
    const q = parseInteger(this.cell(f, "Quantity"));
    if (!q.ok) return { ok: false, reason: `Quantity: ${q.reason}` };
    const p = parseNumber(this.cell(f, "UnitPrice"));
    if (!p.ok) return { ok: false, reason: `UnitPrice: ${p.reason}` };
    const dateText = this.cell(f, "InvoiceDate");
    if (dateText !== this.lastDate.text) {
      const d = parseTimestamp(dateText);
      this.lastDate = { text: dateText, date: d.ok ? d.value : undefined, reason: d.ok ? "" : d.reason };
    }
    if (!this.lastDate.date) return { ok: false, reason: `InvoiceDate: ${this.lastDate.reason}` };
    return {
      ok: true,
      date: this.lastDate.date,
      quantity: q.value,
      price: Math.round(p.value * PRICE_SCALE),
    };
  }

  end(out: ConverterOutput): void {
    this.flushOlderThan(Number.POSITIVE_INFINITY, out);
  }

  heldFrom(): number | undefined {
    let min: number | undefined;
    for (const inv of this.open.values())
      if (min === undefined || inv.firstOrdinal < min) min = inv.firstOrdinal;
    return min;
  }

  private flushOlderThan(ordinal: number, out: ConverterOutput): void {
    const ready: Invoice[] = [];
    for (const inv of this.open.values()) {
      if (inv.lastOrdinal >= ordinal) break;
      ready.push(inv);
    }
    ready.sort((a, b) => a.firstOrdinal - b.firstOrdinal);
    for (const inv of ready) {
      this.open.delete(inv.no);
      this.closed.set(inv.no, inv.line);
      this.emit(inv, out);
    }
  }

  private emit(inv: Invoice, out: ConverterOutput): void {
    if (inv.bad) {
      if (inv.rows > 0) {
        out.reject(
          inv.line,
          `invoice ${inv.no} not imported: its row on line ${inv.bad.line} is bad`,
          inv.rows,
        );
      }
      return;
    }
    const timestamp = inv.at.toISOString();
    if (!this.customers.has(inv.customer)) {
      this.customers.add(inv.customer);
      out.emit({
        message: {
          type: "identify",
          messageId: `import:online-retail:customer:${inv.customer}`,
          userId: inv.customer,
          timestamp,
          traits: { country: inv.country },
        },
        label: "identify",
        line: inv.line,
        ordinal: inv.firstOrdinal,
        rows: 0,
      });
    }
    const refund = inv.no.startsWith("C");
    // Half away from zero, on whole 1/100s of 1/100: exact.
    const cents = Math.sign(inv.amount) * Math.round(Math.abs(inv.amount) / (PRICE_SCALE / 100));
    const revenue = (refund ? Math.abs(cents) : cents) / 100;
    const event = refund ? "order_refunded" : "order_completed";
    out.emit({
      message: {
        type: "track",
        event,
        messageId: `import:invoice:${inv.no}`,
        userId: inv.customer,
        timestamp,
        properties: {
          invoice: inv.no,
          revenue,
          currency: "GBP",
          items: inv.rows,
          quantity: Math.abs(inv.quantity),
          products: [...inv.products],
          country: inv.country,
        },
      },
      label: event,
      line: inv.line,
      ordinal: inv.firstOrdinal,
      rows: inv.rows,
    });
  }
}
