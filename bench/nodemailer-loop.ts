// The limit beside the engine's send rate: nodemailer alone, with the transport the SMTP channel uses (pooled, the
// same pool size) and the same number of sends in flight, sending a newsletter like the engine's to the same
// server, with nothing read from or written to a database.
import { performance } from "node:perf_hooks";
import nodemailer from "nodemailer";
import { inLanes } from "../src/engine/lanes.ts";
import { htmlToText } from "../src/engine/render/html-text.ts";
import { mjmlToHtml } from "../src/engine/render/mjml-layout.ts";
import { newsletterSource } from "./broadcast-base.ts";

export interface LoopOptions {
  port: number;
  pool: number;
  concurrency: number;
  count: number;
  onProgress?: (sent: number) => void;
}

/** Sends `count` emails; returns the seconds it took and how many the server refused. */
export async function nodemailerLoop(opts: LoopOptions): Promise<{ seconds: number; failed: number }> {
  const unsubscribe = "https://bench.invalid/u/1.2.3.0123456789abcdef0123456789abcdef";
  const layout = await mjmlToHtml(newsletterSource("Anna", unsubscribe));
  if (!layout.ok) throw new Error(`the newsletter does not convert: ${layout.problems[0]?.message}`);
  const html = layout.html;
  const text = htmlToText(html);
  const transport = nodemailer.createTransport({
    pool: true,
    host: "127.0.0.1",
    port: opts.port,
    secure: false,
    maxConnections: opts.pool,
    maxMessages: 1000, // the SMTP channel's default
    logger: false,
    debug: false,
  });
  const ids = Array.from({ length: opts.count }, (_, i) => i);
  let failed = 0;
  let sent = 0;
  const t = performance.now();
  try {
    await inLanes(ids, opts.concurrency, async (i) => {
      try {
        await transport.sendMail({
          from: "Flower Shop <news@shop.example>",
          to: `bare${i}@example.net`,
          subject: "Spring is here, Anna",
          html,
          text,
          messageId: `<bench.${i}@shop.example>`,
          headers: {
            "List-Unsubscribe": `<${unsubscribe}>`,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
          },
          envelope: { from: "news@shop.example", to: `bare${i}@example.net` },
          disableFileAccess: true,
          disableUrlAccess: true,
        });
      } catch {
        failed++;
      }
      if (++sent % 1000 === 0) opts.onProgress?.(sent);
    });
    return { seconds: (performance.now() - t) / 1000, failed };
  } finally {
    transport.close();
  }
}
