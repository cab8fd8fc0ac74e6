import { startSmtpCounter } from "./bench/smtp-counter.ts";
import { nodemailerLoop } from "./bench/nodemailer-loop.ts";
const srv = await startSmtpCounter();
const c0 = process.cpuUsage();
const r = await nodemailerLoop({ port: srv.port, pool: Number(process.env.POOL ?? 5), concurrency: 16, count: Number(process.env.N ?? 10000) });
const c = process.cpuUsage(c0);
const counts = await srv.counts();
console.log(r, counts.messages, "rate", (counts.messages / r.seconds).toFixed(0), "parent cpu s", ((c.user + c.system) / 1e6).toFixed(2));
await srv.close();
