// Reading a CSV file as a stream of records with their line numbers. Gzip is recognised by its magic bytes; the
// whole file is checked to be UTF-8 text before anything is imported (so mojibake never reaches the database);
// the delimiter is sniffed from the header line; a malformed record is reported, not fatal.
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { type CsvError, parse } from "csv-parse";

/** The file cannot be imported at all (unreadable, not UTF-8, no header, missing columns). */
export class CsvFileError extends Error {}

export interface CsvFile {
  path: string;
  /** size on disk (compressed, for gzip): the total of the progress bar */
  size: number;
  mtimeMs: number;
  gzip: boolean;
  delimiter: string;
}

export interface CsvRecord {
  fields: string[];
  /** the line the record starts on, 1-based, counting the header */
  line: number;
}

export interface CsvProblem {
  line: number;
  reason: string;
}

const MAX_RECORD_BYTES = 1 << 20;
const DELIMITERS = [",", ";", "\t", "|"] as const;

/** Opens and checks a file: exists, is gzip or plain, is UTF-8 text without NUL bytes; sniffs the delimiter. */
export async function inspectCsvFile(
  path: string,
  opts: { delimiter?: string | undefined } = {},
): Promise<CsvFile> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (err) {
    throw new CsvFileError(`cannot read ${path}: ${describeFsError(err)}`);
  }
  if (!st.isFile()) throw new CsvFileError(`cannot read ${path}: not a regular file`);
  const magic = await readMagic(path);
  if (magic[0] === 0x50 && magic[1] === 0x4b) {
    throw new CsvFileError(
      `${path} is a ZIP archive (an Excel workbook?), not CSV; save it as "CSV UTF-8" first`,
    );
  }
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  const head = await checkText(path, gzip);
  const delimiter = opts.delimiter ?? sniffDelimiter(head);
  return { path, size: st.size, mtimeMs: st.mtimeMs, gzip, delimiter };
}

async function readMagic(path: string): Promise<Buffer> {
  const fh = await open(path, "r").catch((err: unknown) => {
    throw new CsvFileError(`cannot read ${path}: ${describeFsError(err)}`);
  });
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return (err as Error).message;
}

function byteStream(
  file: CsvFile | { path: string; gzip: boolean },
  onBytes?: (n: number) => void,
): Readable {
  const raw = createReadStream(file.path, { highWaterMark: 256 * 1024 });
  if (onBytes) raw.on("data", (chunk) => onBytes(chunk.length));
  if (!file.gzip) return raw;
  const gunzip = createGunzip();
  raw.on("error", (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

/**
 * Reads the whole (decompressed) file once with a strict UTF-8 decoder. Returns the first 64 KB as text for
 * sniffing. Throws a CsvFileError naming the line of the first bad byte.
 */
async function checkText(path: string, gzip: boolean): Promise<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let head = "";
  let lines = 1;
  let first = true;
  try {
    for await (const chunk of byteStream({ path, gzip }) as AsyncIterable<Buffer>) {
      if (first) {
        first = false;
        if ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff)) {
          throw new CsvFileError(`${path} is UTF-16 text; save it as UTF-8 (in Excel: "CSV UTF-8")`);
        }
      }
      const nul = chunk.indexOf(0);
      if (nul >= 0) {
        throw new CsvFileError(
          `${path} has a NUL byte on line ${lines + countNewlines(chunk, nul)}: not a text CSV file (UTF-16 or binary?); nothing was imported`,
        );
      }
      let text: string;
      try {
        text = decoder.decode(chunk, { stream: true });
      } catch {
        const at = firstInvalidUtf8(chunk);
        const line = lines + countNewlines(chunk, Math.max(at, 0));
        const byte =
          at >= 0 ? ` (byte 0x${(chunk[at] ?? 0).toString(16).toUpperCase().padStart(2, "0")})` : "";
        throw new CsvFileError(
          `${path} is not UTF-8 text: line ${line} has an invalid byte${byte}; nothing was imported. ` +
            "Convert the file first, e.g. iconv -f WINDOWS-1252 -t UTF-8 in.csv > out.csv",
        );
      }
      lines += countNewlines(chunk, chunk.length);
      if (head.length < 65_536) head += text.slice(0, 65_536 - head.length);
    }
    decoder.decode(); // a truncated multi-byte sequence at the very end
  } catch (err) {
    if (err instanceof CsvFileError) throw err;
    if (err instanceof TypeError) {
      throw new CsvFileError(
        `${path} is not UTF-8 text: it ends inside a multi-byte character; nothing was imported`,
      );
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code?.startsWith("Z_"))
      throw new CsvFileError(`${path}: the gzip data is damaged (${(err as Error).message})`);
    throw new CsvFileError(`cannot read ${path}: ${describeFsError(err)}`);
  }
  if (head.replace(/^\uFEFF/, "").trim() === "") throw new CsvFileError(`${path} is empty: no header row`);
  return head;
}

function countNewlines(buf: Buffer, end: number): number {
  let n = 0;
  let i = buf.indexOf(10);
  while (i >= 0 && i < end) {
    n++;
    i = buf.indexOf(10, i + 1);
  }
  return n;
}

/** Offset of the first byte that starts an invalid UTF-8 sequence, or -1 (a sequence cut at the chunk end is fine). */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i] as number;
    let need: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      if (i + k >= buf.length) return -1;
      const c = buf[i + k] as number;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** The candidate that occurs most often (outside quotes) on the header line; a comma when none does. */
export function sniffDelimiter(head: string): string {
  const counts = new Map<string, number>();
  let quoted = false;
  for (const ch of head.replace(/^\uFEFF/, "")) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === "\n" || ch === "\r")) break;
    else if (!quoted && (DELIMITERS as readonly string[]).includes(ch))
      counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  let best = ",";
  let bestCount = 0;
  for (const d of DELIMITERS) {
    const c = counts.get(d) ?? 0;
    if (c > bestCount) {
      best = d;
      bestCount = c;
    }
  }
  return best;
}

/**
 * Streams the records of a checked file (the header first). Malformed records (a stray quote, a record over 1 MB)
 * are passed to onProblem with their line and skipped. onBytes reports bytes read from disk.
 */
export async function* readCsvRecords(
  file: CsvFile,
  hooks: { onProblem: (p: CsvProblem) => void; onBytes?: (n: number) => void },
): AsyncGenerator<CsvRecord> {
  // Lines are counted here rather than with csv-parse's `info` option, which costs a copied object per record
  // (a third of the parsing time); a skipped malformed record re-synchronises the count from the parser's own.
  const parser = parse({
    delimiter: file.delimiter,
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: false,
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_BYTES,
  });
  const resync: { after: number; line: number }[] = [];
  parser.on("skip", (err: CsvError) => {
    const line = lineOf(err);
    hooks.onProblem({ line, reason: `malformed CSV: ${err.message.replace(/ at line \d+.*$/, "")}` });
    resync.push({ after: parser.info.records, line });
  });
  const source = byteStream(file, hooks.onBytes);
  const done = pipeline(source, parser);
  done.catch(() => undefined); // the error surfaces through the iteration below
  let line = 0;
  let records = 0;
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      while (resync.length > 0 && (resync[0] as { after: number }).after <= records) {
        line = Math.max(line, (resync.shift() as { line: number }).line);
      }
      records++;
      const start = line + 1;
      line = start;
      for (const f of fields) {
        for (let i = f.indexOf("\n"); i >= 0; i = f.indexOf("\n", i + 1)) line++;
      }
      if (fields.length === 1 && fields[0] === "") continue; // an empty line
      yield { fields, line: start };
    }
    await done;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code?.startsWith("Z_"))
      throw new CsvFileError(`${file.path}: the gzip data is damaged (${(err as Error).message})`);
    throw err;
  } finally {
    source.destroy();
    parser.destroy();
  }
}

function lineOf(err: CsvError): number {
  const lines = (err as unknown as { lines?: unknown }).lines;
  return typeof lines === "number" ? lines : 0;
}
