// An SMTP channel's settings as written in the strategy, read into what the transport needs. Secrets are named,
// not written: `password_env` (and `user_env`) name environment variables read here and nowhere else.
import type { ConfigProblem } from "../channel.ts";

export interface SmtpSettings {
  host: string;
  port: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it */
  secure: boolean;
  /** refuse to send unless STARTTLS succeeds */
  requireTls: boolean;
  /** check the server's certificate (turn off only for a test server with a self-signed one) */
  rejectUnauthorized: boolean;
  user: string | undefined;
  userEnv: string | undefined;
  passwordEnv: string | undefined;
  from: string;
  replyTo: string | undefined;
  /** connections kept open to the server */
  pool: number;
  /** messages per connection before it is renewed */
  maxMessages: number;
  /** the address of the mailto: form of List-Unsubscribe, when the business reads such mail */
  unsubscribeMailto: string | undefined;
  connectionTimeoutMs: number;
}

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
const int = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isInteger(v) ? v : undefined;
const bool = (v: unknown): boolean | undefined => (typeof v === "boolean" ? v : undefined);

export function readSmtpSettings(s: Readonly<Record<string, unknown>>): SmtpSettings {
  const secure = bool(s.secure) ?? false;
  return {
    host: str(s.host) ?? "localhost",
    port: int(s.port) ?? (secure ? 465 : 25),
    secure,
    requireTls: bool(s.require_tls) ?? false,
    rejectUnauthorized: bool(s.tls_reject_unauthorized) ?? true,
    user: str(s.user),
    userEnv: str(s.user_env),
    passwordEnv: str(s.password_env),
    from: str(s.from) ?? "",
    replyTo: str(s.reply_to),
    pool: int(s.pool) ?? 5,
    maxMessages: int(s.max_messages) ?? 1000,
    unsubscribeMailto: str(s.unsubscribe_mailto),
    connectionTimeoutMs: int(s.connection_timeout_ms) ?? 30_000,
  };
}

export interface SmtpCredentials {
  user: string;
  pass: string;
}

/** The login, with the password from the environment; undefined when the server needs none. */
export function smtpCredentials(s: SmtpSettings, env: NodeJS.ProcessEnv): SmtpCredentials | undefined {
  const user = s.user ?? (s.userEnv ? env[s.userEnv] : undefined);
  const pass = s.passwordEnv ? env[s.passwordEnv] : undefined;
  if (!user || !pass) return undefined;
  return { user, pass };
}

/** The domain of the From address: Message-IDs are made under it. */
export function fromDomain(from: string): string | undefined {
  const address = /<([^>]+)>/.exec(from)?.[1] ?? from;
  const at = address.lastIndexOf("@");
  const domain = at < 0 ? "" : address.slice(at + 1).trim();
  return /^[A-Za-z0-9.-]+$/.test(domain) ? domain.toLowerCase() : undefined;
}

export function checkSmtpSettings(s: SmtpSettings, env: NodeJS.ProcessEnv): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!s.from) problems.push({ setting: "from", message: "the sender address (from) is required" });
  else if (!fromDomain(s.from)) {
    problems.push({
      setting: "from",
      message: "the sender must be an address such as Name <news@example.com>",
    });
  }
  if (s.port < 1 || s.port > 65535) problems.push({ setting: "port", message: "the port must be 1-65535" });
  if (s.pool < 1) problems.push({ setting: "pool", message: "the pool needs at least one connection" });
  if (s.userEnv && !env[s.userEnv]) {
    problems.push({ setting: "user_env", message: `the environment variable ${s.userEnv} is not set` });
  }
  const hasUser = Boolean(s.user ?? s.userEnv);
  if (s.passwordEnv && !env[s.passwordEnv]) {
    problems.push({
      setting: "password_env",
      message: `the environment variable ${s.passwordEnv} is not set`,
    });
  }
  if (hasUser && !s.passwordEnv) {
    problems.push({
      setting: "password_env",
      message: "a user is set but no password_env names the variable holding its password",
    });
  }
  if (s.passwordEnv && !hasUser) {
    problems.push({ setting: "user", message: "password_env is set but no user (or user_env) to log in as" });
  }
  if (s.unsubscribeMailto && !/^[^@\s<>]+@[^@\s<>]+$/.test(s.unsubscribeMailto)) {
    problems.push({
      setting: "unsubscribe_mailto",
      message: "must be a bare address such as unsub@example.com",
    });
  }
  return problems;
}
