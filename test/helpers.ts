// Test fixtures: a fresh database per test file (in-memory PGlite, or a new PostgreSQL database when
// TACT_TEST_DATABASE_URL is set), a running server on a free loopback port, a workspace with keys.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { pino } from "pino";
import { type Clock, systemClock, type VirtualClock } from "../src/core/clock.ts";
import { Engine } from "../src/engine/engine.ts";
import { buildApp } from "../src/server/app.ts";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createKey, createWorkspace, type Workspace } from "../src/store/workspaces.ts";

export const pgUrl = process.env.TACT_TEST_DATABASE_URL;
export const TACT_BIN = fileURLToPath(new URL("../bin/tact.js", import.meta.url));
export const backend = pgUrl ? "postgres" : "pglite";

export interface TestDb {
  db: Db;
  /** a URL of this test's own database (PostgreSQL only) */
  url: string | undefined;
  close(): Promise<void>;
}

export async function testDb(opts: { poolSize?: number } = {}): Promise<TestDb> {
  if (!pgUrl) {
    const db = await openDb({ dataDir: "memory://" });
    await migrate(db);
    return { db, url: undefined, close: () => db.close() };
  }
  const name = `tact_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: url.toString(), poolSize: opts.poolSize ?? 10 });
  await migrate(db);
  return {
    db,
    url: url.toString(),
    async close() {
      await db.close();
      const a = new pg.Client({ connectionString: pgUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

export interface TestServer {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startServer(db: Db, clock: Clock = systemClock): Promise<TestServer> {
  // TACT_TEST_LOG=1 shows the server's error log while debugging a test
  const app = await buildApp({
    db,
    clock,
    logger: process.env.TACT_TEST_LOG ? pino({ level: "error" }) : false,
  });
  // Idle connections are closed by the client alone: a test that keeps the event loop busy (the embedded
  // database runs in this process) must not find the server's idle timeout racing its next request on a reused
  // socket ("fetch failed").
  app.server.keepAliveTimeout = 0;
  await app.listen({ port: 0, host: "127.0.0.1" });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

export interface TestWorkspace {
  workspace: Workspace;
  writeKey: string;
  adminKey: string;
}

export async function testWorkspace(
  db: Db,
  name = `ws${randomBytes(4).toString("hex")}`,
): Promise<TestWorkspace> {
  const workspace = await createWorkspace(db, name);
  const write = await createKey(db, name, "write");
  const admin = await createKey(db, name, "admin");
  return { workspace, writeKey: write.key, adminKey: admin.key };
}

export function basic(writeKey: string): string {
  return `Basic ${Buffer.from(`${writeKey}:`).toString("base64")}`;
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" || body instanceof Uint8Array ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function get(url: string, adminKey?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: adminKey ? { authorization: `Bearer ${adminKey}` } : {} });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export interface ServerFixture {
  t: TestDb;
  server: TestServer;
  w: TestWorkspace;
}

/** Registers this file's before/after hooks: a fresh database, a server on it, a workspace with keys. */
export function serverFixture(
  opts: { poolSize?: number; clock?: Clock; onReady?: (f: ServerFixture) => void } = {},
): ServerFixture {
  const f = {} as ServerFixture;
  before(async () => {
    f.t = await testDb(opts);
    f.server = await startServer(f.t.db, opts.clock);
    f.w = await testWorkspace(f.t.db);
    opts.onReady?.(f);
  });
  after(async () => {
    await f.server?.close();
    await f.t?.close();
  });
  return f;
}

/**
 * A server and an engine on the same virtual clock, with a provider's stand-in (`http-stub.ts`) started before the
 * tests and closed after them; the engine's channels read their secrets from `env`.
 */
export function engineFixture(
  clock: VirtualClock,
  env: NodeJS.ProcessEnv,
  provider: { listen(): Promise<void>; close(): Promise<void> },
): { f: ServerFixture; engine(): Engine } {
  let engine: Engine | undefined;
  const f = serverFixture({
    clock,
    onReady: (s) => {
      engine = new Engine(s.t.db, clock, { publicUrl: s.server.url, env });
    },
  });
  before(() => provider.listen());
  after(async () => {
    await engine?.stop();
    await provider.close();
  });
  return {
    f,
    engine: () => {
      if (!engine) throw new Error("the server fixture is not ready");
      return engine;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `tact` command line as a user would, in `cwd`, with exactly the given environment. */
export function runTact(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [TACT_BIN, ...args], { env, encoding: "utf8", cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
