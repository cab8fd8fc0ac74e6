import assert from "node:assert/strict";
import { test } from "node:test";
import { simpleParser } from "mailparser";
import { composeEmail, formatAddress, rfc5322Date } from "./mime.ts";

const base = {
  from: "Flower Shop <news@shop.example>",
  to: "anna@example.net",
  subject: "Spring is here",
  text: "Hello Anna,\nour spring collection is in.\n.\nA line that starts with a dot stays.",
  html: `<html><body><p>Hello Anna</p><p>${"x".repeat(300)}</p><p>=3D is not an escape here</p></body></html>`,
  messageId: "<tact.1.2@shop.example>",
  date: new Date("2026-12-03T21:06:10.000Z"),
};

test("a composed email parses back to the same parts, headers and body text", async () => {
  const raw = composeEmail({
    ...base,
    replyTo: "Support <help@shop.example>",
    headers: { "List-Unsubscribe": "<https://t.example/u/1>", "X-Campaign": "spring" },
  });
  assert.ok(
    raw.split("\r\n").every((line) => line.length <= 998),
    "no line longer than SMTP allows",
  );
  assert.ok(!/[^\r]\n/.test(raw), "CRLF line endings only");
  const mail = await simpleParser(Buffer.from(raw));
  assert.equal(mail.subject, "Spring is here");
  assert.equal(mail.from?.value[0]?.name, "Flower Shop");
  assert.equal(mail.from?.value[0]?.address, "news@shop.example");
  assert.equal((mail.to as { value: { address: string }[] }).value[0]?.address, "anna@example.net");
  assert.equal(mail.replyTo?.value[0]?.address, "help@shop.example");
  assert.equal(mail.messageId, "<tact.1.2@shop.example>");
  assert.equal(mail.date?.toISOString(), "2026-12-03T21:06:10.000Z");
  assert.equal(mail.headers.get("x-campaign"), "spring");
  assert.equal(mail.text?.trimEnd(), base.text);
  assert.equal(mail.html, base.html);
});

test("names and subjects outside ASCII are encoded words, domains become ASCII, specials are quoted", async () => {
  const raw = composeEmail({
    ...base,
    from: `"Blumen & Söhne" <news@shop.example>`,
    to: "juergen@bücher.example",
    replyTo: `Shop, Support <help@shop.example>`,
    subject: "Frühling ist da — 20 % Rabatt 🌷",
  });
  const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
  assert.ok(/^[\x20-\x7e\r\n\t]*$/.test(head), "the header block is 7-bit");
  assert.match(head, /@xn--bcher-kva\.example/);
  const mail = await simpleParser(Buffer.from(raw));
  assert.equal(mail.subject, "Frühling ist da — 20 % Rabatt 🌷");
  assert.equal(mail.from?.value[0]?.name, "Blumen & Söhne");
  assert.equal(mail.replyTo?.value[0]?.name, "Shop, Support");
});

test("a CR or LF in a header value cannot start a header of its own", async () => {
  const raw = composeEmail({
    ...base,
    subject: "Hi\r\nBcc: victim@example.org",
    headers: { "X-Note": "a\nX-Injected: yes" },
  });
  const mail = await simpleParser(Buffer.from(raw));
  assert.equal(mail.headers.has("bcc"), false);
  assert.equal(mail.headers.has("x-injected"), false);
  assert.equal(mail.subject, "Hi Bcc: victim@example.org");
});

test("an extra header whose name is not a header name is refused by name", () => {
  assert.throws(
    () => composeEmail({ ...base, headers: { "X Bad:Name": "v" } }),
    /'X Bad:Name' is not a valid/,
  );
});

test("each message has its own boundary, and dates follow RFC 5322", () => {
  const boundary = (raw: string) => /boundary="([^"]+)"/.exec(raw)?.[1];
  assert.notEqual(boundary(composeEmail(base)), boundary(composeEmail(base)));
  assert.equal(rfc5322Date(new Date("2026-03-01T04:05:06Z")), "Sun, 01 Mar 2026 04:05:06 +0000");
  assert.equal(formatAddress("anna@example.net"), "anna@example.net");
  assert.equal(formatAddress("Anna Berg <anna@example.net>"), "Anna Berg <anna@example.net>");
});
