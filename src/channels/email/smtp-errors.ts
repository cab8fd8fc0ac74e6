// Maps what went wrong talking SMTP to a send result: temporary trouble (4xx replies, the network, a server that
// is down, a login that fails) is retried; a permanent refusal (5xx) fails the message, and a 5.1.x refusal
// ("no such mailbox", "bad address") also marks the address invalid.
import { retryDelayMs, type SendResult } from "../channel.ts";

/** The fields of a nodemailer error this mapping reads. */
interface SmtpFailure {
  code?: string;
  responseCode?: number;
  response?: string;
  message?: string;
  rejectedErrors?: SmtpFailure[];
}

/** The longest wait between tries while the server cannot be reached. */
export const UNREACHABLE_CAP_MS = 10 * 60_000;

const ENHANCED = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;

function asFailure(err: unknown): SmtpFailure {
  return typeof err === "object" && err !== null ? (err as SmtpFailure) : { message: String(err) };
}

/** Removes every given secret (as written and base64-encoded, the form AUTH sends) from a text. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 3) continue;
    for (const form of [s, Buffer.from(s).toString("base64")]) out = out.split(form).join("[redacted]");
  }
  return out;
}

function describe(f: SmtpFailure): string {
  const text = (f.response ?? f.message ?? "unknown error").replace(/\s+/g, " ").trim().slice(0, 500);
  return f.code && !text.includes(f.code) ? `${f.code}: ${text}` : text;
}

export function mapSmtpError(
  err: unknown,
  attempt: number,
  random: () => number,
  secrets: readonly string[],
): SendResult {
  const outer = asFailure(err);
  // a refused recipient is reported on the recipient; its reply says more than the envelope error around it
  const f = outer.rejectedErrors?.[0] ?? outer;
  const reason = scrub(describe(f), secrets);
  const code = f.responseCode ?? outer.responseCode;
  const retry = (why: string): SendResult => ({
    status: "retry",
    afterMs: retryDelayMs(attempt, random),
    reason: why,
  });
  // The server cannot be reached or refuses the login: the channel is at fault, not the message. It is kept
  // without using up its tries, and tried at least every UNREACHABLE_CAP_MS so sends resume soon after the server
  // is back.
  const unreachable = (why: string): SendResult => ({
    status: "retry",
    afterMs: retryDelayMs(attempt, random, { capMs: UNREACHABLE_CAP_MS }),
    reason: why,
    unreachable: true,
  });
  if (outer.code === "EAUTH" || f.code === "EAUTH") return unreachable(`login refused: ${reason}`);
  if (code !== undefined && code >= 400 && code < 500) return retry(reason);
  if (code !== undefined && code >= 500 && code < 600) {
    const enhanced = ENHANCED.exec(f.response ?? "");
    const mailboxProblem = enhanced?.[1] === "5" && enhanced[2] === "1";
    return mailboxProblem ? { status: "failed", reason, invalidAddress: true } : { status: "failed", reason };
  }
  // No SMTP reply: refused or broken connections, timeouts, DNS, TLS. Only a connection lost between the end
  // of DATA and the server's 250 can make the retry a second copy, and that one carries the same Message-ID.
  return unreachable(reason);
}
