import { performance } from "node:perf_hooks";
import nodemailer from "nodemailer";
import { encode as qpEncode, wrap as qpWrap } from "nodemailer/lib/qp";
import { startSmtpCounter } from "./bench/smtp-counter.ts";
import { inLanes } from "./src/engine/lanes.ts";
import { htmlToText } from "./src/engine/render/html-text.ts";
import { mjmlToHtml } from "./src/engine/render/mjml-layout.ts";
import { newsletterSource } from "./bench/broadcast-base.ts";
const srv = await startSmtpCounter();
const unsubscribe = "https://bench.invalid/u/1.2.3.0123456789abcdef0123456789abcdef";
const layout = await mjmlToHtml(newsletterSource("Anna", unsubscribe));
if (!layout.ok) throw new Error("x");
const html = layout.html; const text = htmlToText(html);
console.log("html bytes", html.length);
const mode = process.env.MODE ?? "qp";
function build(i: number): string {
  const b = `----tact-${i.toString(36)}-${Math.random().toString(36).slice(2)}`;
  const enc = (s: string) => mode === "b64" ? Buffer.from(s).toString("base64").replace(/.{76}/g, "$&\r\n") : qpWrap(qpEncode(s), 76);
  const cte = mode === "b64" ? "base64" : "quoted-printable";
  return [
    `From: Flower Shop <news@shop.example>`, `To: bare${i}@example.net`, `Subject: Spring is here, Anna`,
    `Message-ID: <bench.${i}@shop.example>`, `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`, `MIME-Version: 1.0`,
    `List-Unsubscribe: <${unsubscribe}>`, `List-Unsubscribe-Post: List-Unsubscribe=One-Click`,
    `Content-Type: multipart/alternative; boundary="${b}"`, ``,
    `--${b}`, `Content-Type: text/plain; charset=utf-8`, `Content-Transfer-Encoding: ${cte}`, ``, enc(text),
    `--${b}`, `Content-Type: text/html; charset=utf-8`, `Content-Transfer-Encoding: ${cte}`, ``, enc(html),
    `--${b}--`, ``].join("\r\n");
}
const transport = nodemailer.createTransport({ pool: true, host: "127.0.0.1", port: srv.port, secure: false, maxConnections: Number(process.env.POOL ?? 5), maxMessages: 1000, logger: false, debug: false });
const N = Number(process.env.N ?? 10000);
const c0 = process.cpuUsage(); const t = performance.now();
await inLanes(Array.from({ length: N }, (_, i) => i), 16, async (i) => {
  await transport.sendMail({ raw: build(i), envelope: { from: "news@shop.example", to: `bare${i}@example.net` }, disableFileAccess: true, disableUrlAccess: true });
});
const s = (performance.now() - t) / 1000; const c = process.cpuUsage(c0);
const counts = await srv.counts();
console.log(mode, counts.messages, "bytes/msg", (counts.bytes / counts.messages) | 0, "rate", (counts.messages / s).toFixed(0), "parent cpu ms/email", ((c.user + c.system) / 1e3 / N).toFixed(3));
transport.close(); await srv.close();
