// The `cdnow` preset: the CDNOW purchase logs (Fader, Hardie & Lee), whitespace-separated with no header (the
// 1/10 sample: master id, sample id, date yyyymmdd, CDs, dollars) or with one (the full master file: customer id,
// date, CDs, dollars). Each row becomes an `order_completed` at midnight UTC of its date, with `revenue` and
// `quantity`, for the customer whose userId is the master id. The same row imported again is not stored twice;
// identical rows of one file (the logs have some) stay separate orders, told apart by their line.
import type { Converter, ConverterOutput } from "./csv-mapping.ts";
import { importId } from "./csv-rows.ts";
import type { CsvRecord } from "./csv-source.ts";
import { parseInteger, parseNumber } from "./csv-values.ts";

const DATE_RE = /^(\d{4})(\d{2})(\d{2})$/;

export class CdnowConverter implements Converter {
  readonly columns: Record<string, string> = {
    "1 (master id)": "userId",
    "date (yyyymmdd)": "timestamp (midnight UTC)",
    CDs: "properties.quantity",
    dollars: "properties.revenue",
  };
  readonly ignored: string[] = [];
  readonly signature = "preset:cdnow";
  /** the first line, when it is data rather than a header: sent with the first pushed row */
  private pendingFirst: CsvRecord | undefined;

  constructor(header: string[]) {
    const first: CsvRecord = { fields: header, line: 1 };
    const cells = splitWhitespace(header);
    // The sample has no header: its first line is a purchase. The master's header has words, not numbers.
    if (cells.length > 0 && cells.every((c) => /^[\d.]+$/.test(c))) this.pendingFirst = first;
    else this.ignored.push(...cells);
  }

  push(rec: CsvRecord, ordinal: number, out: ConverterOutput): void {
    if (this.pendingFirst) {
      const first = this.pendingFirst;
      this.pendingFirst = undefined;
      this.convert(first, 0, out);
    }
    this.convert(rec, ordinal, out);
  }

  end(out: ConverterOutput): void {
    if (this.pendingFirst) {
      const first = this.pendingFirst;
      this.pendingFirst = undefined;
      this.convert(first, 0, out);
    }
  }

  heldFrom(): number | undefined {
    return this.pendingFirst ? 0 : undefined;
  }

  private convert(rec: CsvRecord, ordinal: number, out: ConverterOutput): void {
    const cells = splitWhitespace(rec.fields);
    if (cells.length === 0) {
      out.skip("empty row");
      return;
    }
    if (cells.length !== 4 && cells.length !== 5) {
      out.reject(
        rec.line,
        `expected 4 or 5 whitespace-separated values (id, [sample id,] date, CDs, dollars), got ${cells.length}`,
      );
      return;
    }
    const [id = "", date = "", cds = "", dollars = ""] =
      cells.length === 5 ? [cells[0], cells[2], cells[3], cells[4]] : cells;
    const m = DATE_RE.exec(date);
    const at = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
    if (!m || !at || at.getUTCDate() !== Number(m[3]) || at.getUTCMonth() !== Number(m[2]) - 1) {
      out.reject(rec.line, `'${date}' is not a date written yyyymmdd`);
      return;
    }
    const quantity = parseInteger(cds);
    if (!quantity.ok || quantity.value < 0) {
      out.reject(rec.line, `CDs: ${quantity.ok ? `'${cds}' is negative` : quantity.reason}`);
      return;
    }
    const revenue = parseNumber(dollars);
    if (!revenue.ok || revenue.value < 0) {
      out.reject(rec.line, `dollars: ${revenue.ok ? `'${dollars}' is negative` : revenue.reason}`);
      return;
    }
    const message = {
      type: "track",
      event: "order_completed",
      userId: id,
      timestamp: at.toISOString(),
      messageId: importId(["import", "cdnow", id, date, `L${rec.line}`]),
      properties: { revenue: revenue.value, quantity: quantity.value },
    };
    out.emit({ message, label: "order_completed", line: rec.line, ordinal: Math.max(ordinal, 1), rows: 1 });
  }
}

/** The file has no delimiter the reader knows, so each line arrives whole (or split on stray commas). */
function splitWhitespace(fields: readonly string[]): string[] {
  return fields
    .join(" ")
    .trim()
    .split(/\s+/)
    .filter((c) => c !== "");
}
