// The RFC 5322 / MIME text of one email: headers, then a multipart/alternative of a text and an HTML part, both
// UTF-8 quoted-printable. Built as one string and handed to the SMTP pool as a raw message: nodemailer's composer
// builds a tree of streams per message, and on a broadcast that cost more CPU than everything else the sender does.
// Header values from outside (names, the subject, a template's extra headers) are encoded as RFC 2047 words when
// not plain ASCII and can never break a line: a CR or LF in a value is folded into a space.
import { domainToASCII } from "node:url";
import addressparser from "nodemailer/lib/addressparser";
import { encodeWords, foldLines, isPlainText, quoteString } from "nodemailer/lib/mime-funcs";
import { encode as qpEncode, wrap as qpWrap } from "nodemailer/lib/qp";

export interface EmailParts {
  /** `Name <address>` or a bare address */
  from: string;
  to: string;
  replyTo?: string | undefined;
  subject: string;
  text: string;
  html: string;
  /** with its angle brackets */
  messageId: string;
  date: Date;
  /** added after Tact's own headers, in this order */
  headers?: Readonly<Record<string, string>>;
}

// a header name: printable ASCII but the colon (RFC 5322 §2.2)
const HEADER_NAME = /^[!-9;-~]+$/;
// "=_" never occurs in quoted-printable text (a literal "=" is always encoded), so no body line can be a boundary
const BOUNDARY_PREFIX = `----=_tact_${process.pid.toString(36)}_${Date.now().toString(36)}_`;
let boundaries = 0;

/** The message as sent, CRLF line endings throughout; throws when an extra header's name is not a header name. */
export function composeEmail(p: EmailParts): string {
  const boundary = `${BOUNDARY_PREFIX}${(boundaries++).toString(36)}`;
  const lines = [header("From", formatAddress(p.from)), header("To", formatAddress(p.to))];
  if (p.replyTo) lines.push(header("Reply-To", formatAddress(p.replyTo)));
  lines.push(
    header("Subject", encodeText(p.subject)),
    header("Message-ID", oneLine(p.messageId)),
    header("Date", rfc5322Date(p.date)),
    "MIME-Version: 1.0",
  );
  for (const [name, value] of Object.entries(p.headers ?? {})) {
    if (!HEADER_NAME.test(name)) throw new Error(`the header name '${name}' is not a valid header name`);
    lines.push(header(name, encodeText(value)));
  }
  lines.push(
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    ...part("text/plain", p.text),
    `--${boundary}`,
    ...part("text/html", p.html),
    `--${boundary}--`,
    "",
  );
  return lines.join("\r\n");
}

function part(type: string, body: string): string[] {
  const crlf = body.replace(/\r\n|\r|\n/g, "\r\n");
  return [
    `Content-Type: ${type}; charset=utf-8`,
    "Content-Transfer-Encoding: quoted-printable",
    "",
    qpWrap(qpEncode(crlf), 76),
  ];
}

function header(name: string, value: string): string {
  return foldLines(`${name}: ${value}`, 76);
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, " ");
}

function encodeText(value: string): string {
  const flat = oneLine(value);
  return isPlainText(flat) ? flat : encodeWords(flat, "Q", 52);
}

// a bare ASCII address, as customers' addresses are: written as it is
const PLAIN_ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$/;

// the sender's and reply-to addresses come with every message: each is formatted once
const formatted = new Map<string, string>();

/** `Name <local@domain>` with the name quoted or encoded as needed and the domain in its ASCII form. */
export function formatAddress(input: string): string {
  if (PLAIN_ADDRESS.test(input)) return input;
  let out = formatted.get(input);
  if (out === undefined) {
    out = formatNamed(input);
    if (formatted.size >= 100) formatted.clear();
    formatted.set(input, out);
  }
  return out;
}

function formatNamed(input: string): string {
  const parsed = addressparser(oneLine(input), { flatten: true })[0];
  const address = parsed?.address ?? oneLine(input).trim();
  const at = address.lastIndexOf("@");
  const ascii =
    at > 0
      ? `${address.slice(0, at)}@${domainToASCII(address.slice(at + 1)) || address.slice(at + 1)}`
      : address;
  const name = parsed?.name ?? "";
  if (!name) return ascii;
  const shown = /^[\w ]*$/.test(name)
    ? name
    : /^[\x20-\x7e]*$/.test(name)
      ? quoteString(name)
      : encodeWords(name, "Q", 52);
  return `${shown} <${ascii}>`;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 §3.3 date-time in UTC: `Thu, 03 Dec 2026 21:06:10 +0000`. */
export function rfc5322Date(d: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return (
    `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}
