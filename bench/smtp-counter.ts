// An SMTP server for the broadcast benchmark, in a child process of its own so that its CPU does not share the
// engine's event loop: the `smtp-server` package on loopback, accepting every message, counting messages, bytes and
// distinct recipients, and throwing the bodies away. Run as a script it is the server; imported, it gives
// `startSmtpCounter()`, which forks it and asks it for its counts over IPC.
import { type ChildProcess, fork } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { SMTPServer } from "smtp-server";

/** What the server has accepted since it started or was last reset. */
export interface SmtpCounts {
  messages: number;
  bytes: number;
  /** distinct envelope recipients: fewer than `messages` means someone got the same email twice */
  recipients: number;
  connections: number;
  /** epoch ms of the first and last accepted message (0 when none) */
  firstAt: number;
  lastAt: number;
}

type Request = { kind: "count" | "reset"; id: number };
type Reply = { kind: "ready"; port: number } | { kind: "counts"; id: number; counts: SmtpCounts };

export interface SmtpCounter {
  port: number;
  counts(): Promise<SmtpCounts>;
  /** zeroes the counts (and forgets the recipients), so the next phase is counted alone */
  reset(): Promise<SmtpCounts>;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startSmtpCounter(): Promise<SmtpCounter> {
  const child: ChildProcess = fork(SELF, [], {
    execArgv: process.execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, (c: SmtpCounts) => void>();
  let nextId = 1;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the SMTP server process exited (${code})`)));
    child.on("message", (m: Reply) => {
      if (m.kind === "ready") resolve(m.port);
      else waiting.get(m.id)?.(m.counts);
    });
  });
  const ask = (kind: Request["kind"]) =>
    new Promise<SmtpCounts>((resolve) => {
      const id = nextId++;
      waiting.set(id, (c) => {
        waiting.delete(id);
        resolve(c);
      });
      child.send({ kind, id } satisfies Request);
    });
  return {
    port,
    counts: () => ask("count"),
    reset: () => ask("reset"),
    async close() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

function serve(): void {
  const counts: SmtpCounts = { messages: 0, bytes: 0, recipients: 0, connections: 0, firstAt: 0, lastAt: 0 };
  let seen = new Set<string>();
  const server = new SMTPServer({
    secure: false,
    // plain SMTP on loopback: nodemailer would otherwise upgrade every connection to TLS
    disabledCommands: ["STARTTLS"],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onConnect: (_session, cb) => {
      counts.connections++;
      cb();
    },
    onData: (stream, session, cb) => {
      let bytes = 0;
      stream.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      stream.on("end", () => {
        const now = Date.now();
        counts.messages++;
        counts.bytes += bytes;
        if (counts.firstAt === 0) counts.firstAt = now;
        counts.lastAt = now;
        for (const r of session.envelope.rcptTo) seen.add(r.address);
        counts.recipients = seen.size;
        cb();
      });
    },
  });
  // a client that drops its connection mid-session is not the server's failure
  server.on("error", () => undefined);
  process.on("message", (m: Request) => {
    if (m.kind === "reset") {
      const before = { ...counts };
      Object.assign(counts, { messages: 0, bytes: 0, recipients: 0, connections: 0, firstAt: 0, lastAt: 0 });
      seen = new Set();
      process.send?.({ kind: "counts", id: m.id, counts: before } satisfies Reply);
    } else process.send?.({ kind: "counts", id: m.id, counts: { ...counts } } satisfies Reply);
  });
  process.on("SIGTERM", () => {
    server.close(() => process.exit(0));
    // connections a client left open do not hold the process
    setTimeout(() => process.exit(0), 1000).unref();
  });
  process.on("disconnect", () => process.exit(0));
  server.listen(0, "127.0.0.1", () => {
    const port = (server.server.address() as AddressInfo).port;
    process.send?.({ kind: "ready", port } satisfies Reply);
  });
}

if (process.argv[1] === SELF) serve();
