// What several benchmarks share: a fresh database per run, Tact started for real as a child process (`tact serve`
// or `tact worker`), CPU time of processes and of the PostgreSQL backends serving a database, and quantiles.
// Not a benchmark itself: it exports no `run`.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

// ---- databases -------------------------------------------------------------------------------------------------

/** A database of one run: a PostgreSQL database created for it, or a PGlite folder; `drop` removes it. */
export interface Target {
  backend: "postgres" | "pglite";
  url?: string;
  dataDir?: string;
  drop(): Promise<void>;
}

export async function freshDatabase(backend: "postgres" | "pglite", adminUrl?: string): Promise<Target> {
  if (backend === "pglite") {
    const dataDir = mkdtempSync(join(tmpdir(), "tact-bench-"));
    return { backend, dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  if (!adminUrl) throw new Error("the postgres backend needs a databaseUrl");
  const name = `tact_bench_${randomBytes(6).toString("hex")}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    backend,
    url: url.toString(),
    drop: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

export async function adminQuery(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Flushes dirty buffers before a timed phase, so it does not pay for the previous one (PostgreSQL only). */
export async function checkpoint(t: Target): Promise<void> {
  if (t.url) await adminQuery(t.url, "CHECKPOINT").catch(() => undefined);
}

// ---- Tact as a child process -----------------------------------------------------------------------------------

export interface TactProcess {
  pid: number;
  /** the HTTP port (`serve`); 0 for a worker */
  port: number;
  /** the last 20,000 characters it printed */
  output(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  /** `serve` (ready when /health answers) or `worker` (ready when it logs "worker running") */
  command?: "serve" | "worker";
  /** more environment: channel secrets, TACT_* settings */
  env?: NodeJS.ProcessEnv;
  /** node options for this process only, e.g. ["--cpu-prof"] */
  nodeArgs?: string[];
  /** the command's own options, e.g. ["--no-engine"] */
  args?: string[];
  /** where its output goes when it stops */
  log?: (msg: string) => void;
}

/** Starts `tact serve` or `tact worker` on the target's database and waits until it is ready. */
export async function startTact(t: Target, opts: StartOptions = {}): Promise<TactProcess> {
  const command = opts.command ?? "serve";
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  const port = command === "serve" ? await freePort() : 0;
  const env: NodeJS.ProcessEnv = { ...process.env, HOST: "127.0.0.1", LOG_LEVEL: "warn" };
  delete env.DATABASE_URL;
  delete env.TACT_DATA_DIR;
  delete env.NODE_OPTIONS;
  if (command === "serve") env.PORT = String(port);
  else env.LOG_LEVEL = "info"; // its "worker running" line tells it is ready
  Object.assign(env, opts.env);
  if (t.url) env.DATABASE_URL = t.url;
  else env.TACT_DATA_DIR = t.dataDir;
  // bin/tact.js runs the bundle of the sources (or the sources through tsx) in-process: the spawned node is Tact.
  const child = spawnNode(
    [...(opts.nodeArgs ?? []), join(ROOT, "bin/tact.js"), command, ...(opts.args ?? [])],
    env,
  );
  const output = child.output;

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.gone()) throw new Error(`tact ${command} exited before it was ready:\n${output()}`);
    if (command === "worker") {
      if (output().includes('"msg":"worker running"')) break;
    } else {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        if (res.ok) {
          await res.text();
          break;
        }
      } catch {
        // not listening yet
      }
    }
    if (Date.now() > deadline) {
      await child.stop("SIGKILL");
      throw new Error(`tact ${command} was not ready within 120 s:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  let stopped = false;
  return {
    pid: child.pid,
    port,
    output,
    async stop() {
      if (stopped) return;
      stopped = true;
      const code = await child.stop();
      if (code !== 0 && code !== null)
        log(`tact ${command} exited with code ${code}:\n${output().slice(-4000)}`);
      else if (command === "serve" && output().trim()) log(`server output:\n${output().slice(-4000)}`);
    },
  };
}

/** A node process of the bench, its output kept (the last 20,000 characters). */
export interface NodeChild {
  pid: number;
  output(): string;
  /** it has exited */
  gone(): boolean;
  /** sends the signal (SIGTERM: SIGKILL after 30 s) and resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node ...args` in the repository's folder. */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv): NodeChild {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  return {
    pid: child.pid as number,
    output: () => output,
    gone: () => gone,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (!gone) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

// ---- CPU and memory ------------------------------------------------------------------------------------------

export function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmHWM:\s+(\d+)\s+kB/.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds of the PostgreSQL backends serving the database of `url`, by pid (a local server only). */
export async function backendCpu(url: string | undefined): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!url) return out;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    for (const { pid } of rows) out.set(pid, procCpuSeconds(pid));
  } finally {
    await c.end();
  }
  return out;
}

export function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, cpu] of after) {
    if (Number.isFinite(cpu)) sum += cpu - (before.get(pid) ?? 0);
  }
  return sum;
}

export function machineTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

export function machineCores(): number {
  try {
    return readFileSync("/proc/stat", "utf8")
      .split("\n")
      .filter((l) => /^cpu\d+ /.test(l)).length;
  } catch {
    return Number.NaN;
  }
}

export function machineBusyCores(
  a: { busy: number; total: number },
  b: { busy: number; total: number },
): number {
  const total = b.total - a.total;
  return total > 0 ? ((b.busy - a.busy) / total) * machineCores() : Number.NaN;
}

// ---- numbers -----------------------------------------------------------------------------------------------

/** The q-quantile of sorted numbers, interpolated between neighbours. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}
