// Delivery status notifications (RFC 3464): the report a mail server sends back when it could not deliver a
// message it had accepted (an asynchronous bounce). Read here: each recipient's action, status and diagnostic, and
// Tact's signed reference from the returned headers of the original message (`X-Tact-Ref`), which says which
// message bounced and proves the report is about a message Tact sent.

import type { CallbackEvent, ParsedCallback } from "../channel.ts";

/** The header every email carries: the message's signed reference (see links.ts, kind `reference`). */
export const REFERENCE_HEADER = "X-Tact-Ref";

/**
 * A DSN as the channel port's events: each recipient that failed (an address that does not exist, status 5.1.x,
 * is a hard bounce) or was delivered; delays say nothing final and are left out.
 */
export function dsnEvents(raw: string): ParsedCallback {
  const dsn = parseDsn(raw);
  if (!dsn.ok) return dsn;
  const reference = dsn.reference;
  if (!reference) {
    return {
      ok: false,
      reason: `the report does not return the ${REFERENCE_HEADER} header of a message Tact sent`,
    };
  }
  const events = dsn.recipients.flatMap((r): CallbackEvent[] => {
    if (r.action === "failed") {
      const reason = r.diagnostic ? `${r.status} ${r.diagnostic}` : r.status;
      return [
        {
          kind: "failed",
          reference,
          reason,
          invalidAddress: r.status.startsWith("5.1."),
          address: r.address,
        },
      ];
    }
    return r.action === "delivered" || r.action === "relayed" ? [{ kind: "delivered", reference }] : [];
  });
  return { ok: true, events };
}

export interface DsnRecipient {
  /** Final-Recipient, without its address type */
  address: string;
  /** failed, delayed, delivered, relayed or expanded */
  action: string;
  /** the enhanced status code, e.g. 5.1.1 */
  status: string;
  /** Diagnostic-Code, without its type: the remote server's own words */
  diagnostic: string | null;
}

export type ParsedDsn =
  | { ok: true; reference: string | null; recipients: DsnRecipient[] }
  | { ok: false; reason: string };

type Headers = Map<string, string>;

/** Parses a DSN as received (the whole MIME message). Never throws. */
export function parseDsn(raw: string): ParsedDsn {
  const top = splitEntity(raw);
  const type = mediaType(top.headers);
  if (
    type.value !== "multipart/report" ||
    type.params.get("report-type")?.toLowerCase() !== "delivery-status"
  ) {
    return {
      ok: false,
      reason:
        "the body is not a delivery status notification (multipart/report; report-type=delivery-status)",
    };
  }
  const boundary = type.params.get("boundary");
  if (!boundary) return { ok: false, reason: "the report's Content-Type names no boundary" };
  const parts = multipartParts(top.body, boundary).map(splitEntity);
  const status = parts.find((p) => mediaType(p.headers).value === "message/delivery-status");
  if (!status) return { ok: false, reason: "the report has no message/delivery-status part" };
  const recipients = recipientFields(decoded(status)).flatMap((f) => {
    const address = typed(f.get("final-recipient") ?? f.get("original-recipient"));
    const action = f.get("action")?.trim().toLowerCase();
    const code = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(f.get("status") ?? "")?.[1];
    return address && action && code
      ? [{ address, action, status: code, diagnostic: typed(f.get("diagnostic-code")) }]
      : [];
  });
  if (recipients.length === 0)
    return { ok: false, reason: "the report names no recipient with an action and a status" };
  return { ok: true, reference: referenceOf(parts), recipients };
}

/** The reference in the returned message or its headers (text/rfc822-headers or message/rfc822). */
function referenceOf(parts: { headers: Headers; body: string }[]): string | null {
  for (const p of parts) {
    const type = mediaType(p.headers).value;
    if (type !== "text/rfc822-headers" && type !== "message/rfc822") continue;
    const returned = parseHeaders(decoded(p).split(/\r?\n\r?\n/, 1)[0] ?? "");
    const ref = returned.get(REFERENCE_HEADER.toLowerCase())?.trim();
    if (ref) return ref;
  }
  return null;
}

/** Headers and body of a MIME entity; header names lower-cased, folded lines unfolded. */
function splitEntity(text: string): { headers: Headers; body: string } {
  const m = /\r?\n\r?\n/.exec(text);
  if (!m) return { headers: parseHeaders(text), body: "" };
  return { headers: parseHeaders(text.slice(0, m.index)), body: text.slice(m.index + m[0].length) };
}

function parseHeaders(block: string): Headers {
  const out: Headers = new Map();
  for (const line of block.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    // the first of a repeated field wins (a report's fields appear once)
    if (!out.has(name)) out.set(name, line.slice(colon + 1).trim());
  }
  return out;
}

/** A Content-Type's media type (lower case) and its parameters (values unquoted). */
function mediaType(headers: Headers): { value: string; params: Map<string, string> } {
  const [value = "", ...rest] = (headers.get("content-type") ?? "text/plain").split(";");
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf("=");
    if (eq <= 0) continue;
    params.set(
      p.slice(0, eq).trim().toLowerCase(),
      p
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/s, "$1"),
    );
  }
  return { value: value.trim().toLowerCase(), params };
}

function multipartParts(body: string, boundary: string): string[] {
  const lines = body.split(/\r?\n/);
  const parts: string[] = [];
  let current: string[] | null = null;
  for (const line of lines) {
    const trimmed = line.trimEnd();
    if (trimmed === `--${boundary}--`) break;
    if (trimmed === `--${boundary}`) {
      if (current) parts.push(current.join("\n"));
      current = [];
    } else current?.push(line);
  }
  if (current) parts.push(current.join("\n"));
  return parts;
}

/** A part's body after its Content-Transfer-Encoding (base64 and quoted-printable; others as they are). */
function decoded(part: { headers: Headers; body: string }): string {
  const encoding = part.headers.get("content-transfer-encoding")?.trim().toLowerCase();
  if (encoding === "base64") return Buffer.from(part.body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (encoding === "quoted-printable") {
    return part.body
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  }
  return part.body;
}

/** The per-recipient field groups of a delivery-status body (the first group is about the message). */
function recipientFields(body: string): Headers[] {
  const groups = body
    .split(/\r?\n[ \t]*\r?\n/)
    .map((g) => g.trim())
    .filter((g) => g !== "");
  return groups.slice(1).map(parseHeaders);
}

/** `rfc822; ann@example.org` → `ann@example.org`; `smtp; 550 …` → `550 …`. */
function typed(value: string | undefined): string | null {
  if (value === undefined) return null;
  const semi = value.indexOf(";");
  const v = (semi >= 0 ? value.slice(semi + 1) : value).trim();
  return v === "" ? null : v;
}
