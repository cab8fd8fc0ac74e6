import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { dsnEvents, parseDsn } from "./dsn.ts";

// As Postfix writes it: a notification, the report, the returned headers.
const POSTFIX = [
  "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)",
  "Subject: Undelivered Mail Returned to Sender",
  "MIME-Version: 1.0",
  "Content-Type: multipart/report; report-type=delivery-status;",
  '\tboundary="3F1B2C0A1.1796640000/mail.example.com"',
  "",
  "This is a MIME-encapsulated message.",
  "",
  "--3F1B2C0A1.1796640000/mail.example.com",
  "Content-Description: Notification",
  "Content-Type: text/plain; charset=us-ascii",
  "",
  "I'm sorry to have to inform you that your message could not be delivered.",
  "",
  "--3F1B2C0A1.1796640000/mail.example.com",
  "Content-Description: Delivery report",
  "Content-Type: message/delivery-status",
  "",
  "Reporting-MTA: dns; mail.example.com",
  "Arrival-Date: Mon,  7 Dec 2026 12:00:00 +0000 (UTC)",
  "",
  "Final-Recipient: rfc822; ann@example.org",
  "Original-Recipient: rfc822;ann@example.org",
  "Action: failed",
  "Status: 5.1.1",
  "Remote-MTA: dns; mx.example.org",
  "Diagnostic-Code: smtp; 550 5.1.1 <ann@example.org>: Recipient address rejected:",
  "    User unknown in virtual mailbox table",
  "",
  "--3F1B2C0A1.1796640000/mail.example.com",
  "Content-Description: Undelivered Message Headers",
  "Content-Type: text/rfc822-headers",
  "",
  "From: School <news@school.example>",
  "To: ann@example.org",
  "X-Tact-Ref: eyJ3IjoxfQ.c2ln",
  "Subject: Welcome",
  "",
  "--3F1B2C0A1.1796640000/mail.example.com--",
  "",
].join("\r\n");

test("a Postfix bounce: the recipient, the action, the status, the diagnostic unfolded, the reference", () => {
  const r = parseDsn(POSTFIX);
  assert.ok(r.ok, !r.ok ? r.reason : "");
  assert.equal(r.reference, "eyJ3IjoxfQ.c2ln");
  assert.deepEqual(r.recipients, [
    {
      address: "ann@example.org",
      action: "failed",
      status: "5.1.1",
      diagnostic:
        "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
    },
  ]);
});

test("a report in base64 with the whole message returned, two recipients, one only delayed", () => {
  const report = Buffer.from(
    [
      "Reporting-MTA: dns; exchange.example.net",
      "",
      "Final-Recipient: rfc822;bob@example.net",
      "Action: delayed",
      "Status: 4.4.7",
      "",
      "Final-Recipient: rfc822;cy@example.net",
      "Action: failed",
      "Status: 5.2.2 (mailbox full)",
      "",
    ].join("\r\n"),
  ).toString("base64");
  const raw = [
    "Content-Type: multipart/report; report-type=Delivery-Status; boundary=b1",
    "",
    "--b1",
    "Content-Type: message/delivery-status",
    "Content-Transfer-Encoding: base64",
    "",
    report,
    "--b1",
    "Content-Type: message/rfc822",
    "",
    "X-Tact-Ref: abc.def",
    "Subject: Hi",
    "",
    "the body",
    "--b1--",
  ].join("\n");
  const r = parseDsn(raw);
  assert.ok(r.ok, !r.ok ? r.reason : "");
  assert.equal(r.reference, "abc.def");
  assert.deepEqual(
    r.recipients.map((x) => [x.address, x.action, x.status, x.diagnostic]),
    [
      ["bob@example.net", "delayed", "4.4.7", null],
      ["cy@example.net", "failed", "5.2.2", null],
    ],
  );
});

test("what is not a delivery report is refused with the reason, never thrown", () => {
  const no = (raw: string, reason: RegExp) => {
    const r = parseDsn(raw);
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.reason, reason);
  };
  no("", /not a delivery status notification/);
  no("Subject: hello\n\nan ordinary reply", /not a delivery status notification/);
  no("Content-Type: multipart/report; report-type=delivery-status\n\n--x\n", /no boundary/);
  no(
    "Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n\nhi\n--x--",
    /no message\/delivery-status/,
  );
  no(
    "Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; a\n\nAction: failed\n--x--",
    /names no recipient/,
  );
  // a report without the returned headers still parses; it just names no message
  const r = parseDsn(POSTFIX.replace(/X-Tact-Ref: .*\r\n/, ""));
  assert.ok(r.ok);
  assert.equal(r.reference, null);
});

test("any text, and a real report cut or spliced anywhere, is read or refused with a reason, never thrown", () => {
  const answered = (raw: string) => {
    const r = dsnEvents(raw);
    assert.ok(r.ok ? Array.isArray(r.events) : r.reason.length > 0);
  };
  fc.assert(fc.property(fc.string({ maxLength: 2_000 }), answered), { numRuns: 500 });
  fc.assert(
    fc.property(
      fc.nat(POSTFIX.length),
      fc.nat(POSTFIX.length),
      fc.string({ maxLength: 40 }),
      (a, b, junk) => {
        answered(POSTFIX.slice(0, Math.min(a, b)) + junk + POSTFIX.slice(Math.max(a, b)));
      },
    ),
    { numRuns: 500 },
  );
});

test("as the port's events: a 5.1.x failure is a hard bounce, another failure soft, a delay nothing", () => {
  const r = dsnEvents(POSTFIX);
  assert.ok(r.ok);
  assert.deepEqual(r.events, [
    {
      kind: "failed",
      reference: "eyJ3IjoxfQ.c2ln",
      reason:
        "5.1.1 550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
      invalidAddress: true,
      address: "ann@example.org",
    },
  ]);
  const full = dsnEvents(POSTFIX.replace("Status: 5.1.1", "Status: 5.2.2"));
  assert.ok(full.ok);
  assert.equal(full.events[0]?.kind === "failed" && full.events[0].invalidAddress, false);
  const delayed = dsnEvents(POSTFIX.replace("Action: failed", "Action: delayed"));
  assert.deepEqual(delayed, { ok: true, events: [] });
  const delivered = dsnEvents(
    POSTFIX.replace("Action: failed", "Action: delivered").replace("5.1.1", "2.0.0"),
  );
  assert.deepEqual(delivered, { ok: true, events: [{ kind: "delivered", reference: "eyJ3IjoxfQ.c2ln" }] });
  const unsigned = dsnEvents(POSTFIX.replace(/X-Tact-Ref: .*\r\n/, ""));
  assert.equal(unsigned.ok, false);
});
