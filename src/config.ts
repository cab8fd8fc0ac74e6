// Configuration from the environment, parsed once at start-up and passed down.
import { resolve } from "node:path";
import { z } from "zod";

const envSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  TACT_DATA_DIR: z.string().min(1).default(".tact"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("0.0.0.0"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  TACT_PUBLIC_URL: z.string().url().optional(),
  TACT_SEND_LEASE_MS: z.coerce.number().int().min(1000).default(300_000),
  TACT_SEND_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  TACT_DECIDE_LANES: z.coerce.number().int().min(1).max(8).default(2),
  TACT_INGEST_MAX_WAIT_MS: z.coerce.number().int().min(0).default(250),
  TACT_INGEST_BACKLOG: z.coerce.number().int().min(1).default(2_000_000),
  TACT_INGEST_MAX_LAG_MS: z.coerce.number().int().min(0).default(60_000),
  TACT_VALUE_REFIT_HOURS: z.coerce.number().min(0).default(24),
});

export interface Config {
  databaseUrl: string | undefined;
  dataDir: string;
  port: number;
  host: string;
  logLevel: string;
  /** where recipients reach Tact's links (open pixel, clicks, unsubscribe), without a trailing slash */
  publicUrl: string;
  /** a message `sending` for longer than this was interrupted (its worker died) and is sent again */
  sendLeaseMs: number;
  /** messages in flight at once per engine */
  sendConcurrency: number;
  /** decide rounds at once per engine (PostgreSQL) */
  decideLanes: number;
  /** the tracking API's queue: see docs/ingestion.md */
  ingest: { maxWaitMs: number; backlogLimit: number; maxLagMs: number };
  /** refit the value models when the last fit is this old and orders changed since; 0: never */
  valueRefitHours: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid environment variable ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: resolve(e.TACT_DATA_DIR),
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    publicUrl: (e.TACT_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ""),
    sendLeaseMs: e.TACT_SEND_LEASE_MS,
    sendConcurrency: e.TACT_SEND_CONCURRENCY,
    decideLanes: e.TACT_DECIDE_LANES,
    ingest: {
      maxWaitMs: e.TACT_INGEST_MAX_WAIT_MS,
      backlogLimit: e.TACT_INGEST_BACKLOG,
      maxLagMs: e.TACT_INGEST_MAX_LAG_MS,
    },
    valueRefitHours: e.TACT_VALUE_REFIT_HOURS,
  };
}
