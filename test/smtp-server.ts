// A real SMTP server on loopback for tests: records every message it accepts, refuses recipients by their local
// part (busy… → 450, unknown… → 550, policy… → 554) and echoes bad passwords back in its refusal.
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export const PASSWORD = "s3cret-Pa55word-xyz";

export interface Received {
  raw: Buffer;
  recipients: string[];
  user: string | undefined;
}

/** A loopback SMTP server: refuses recipients by their local part, echoes bad passwords back in its refusal. */
export class TestSmtp {
  received: Received[] = [];
  connections = 0;
  errors: Error[] = [];
  server: SMTPServer;
  port = 0;

  constructor() {
    this.server = new SMTPServer({
      secure: false,
      disabledCommands: ["STARTTLS"],
      allowInsecureAuth: true,
      authOptional: true,
      logger: false,
      onConnect: (_s, cb) => {
        this.connections++;
        cb();
      },
      onAuth: (auth, _s, cb) => {
        if (auth.username === "mailer" && auth.password === PASSWORD)
          return cb(null, { user: auth.username });
        // a careless server that repeats what it was given: the adapter must not pass it on
        const err = Object.assign(new Error(`5.7.8 bad credentials ${auth.password}`), { responseCode: 535 });
        return cb(err);
      },
      onRcptTo: (address, _s, cb) => {
        const local = address.address.split("@")[0] ?? "";
        if (local.startsWith("busy")) {
          return cb(Object.assign(new Error("4.2.1 mailbox busy, try later"), { responseCode: 450 }));
        }
        if (local.startsWith("unknown")) {
          return cb(Object.assign(new Error("5.1.1 no such user here"), { responseCode: 550 }));
        }
        if (local.startsWith("policy")) {
          return cb(Object.assign(new Error("5.7.1 refused by policy"), { responseCode: 554 }));
        }
        return cb();
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          this.received.push({
            raw: Buffer.concat(chunks),
            recipients: session.envelope.rcptTo.map((r) => r.address),
            user: typeof session.user === "string" ? session.user : undefined,
          });
          cb();
        });
      },
    });
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => resolve());
    });
    this.port = (this.server.server.address() as AddressInfo).port;
    // A client killed mid-session (a worker under SIGKILL) resets its connection: that is the test, not a failure.
    this.server.on("error", (err: Error) => this.errors.push(err));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
