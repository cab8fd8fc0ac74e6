// `tact serve`: migrations, first-run bootstrap, the HTTP server with the engine (memberships, scenarios, sending), and
// a clean shutdown on SIGTERM/SIGINT. `tact worker`: the background workers alone, to scale out.
import { type Logger, pino } from "pino";
import { type Config, loadConfig } from "../config.ts";
import { systemClock } from "../core/clock.ts";
import { Engine } from "../engine/engine.ts";
import { readsValue, recomputeWorkspace, strategyReadsValue } from "../engine/strategy-runtime.ts";
import { IngestQueue } from "../ingest/ingest-queue.ts";
import { monitorAllExperiments } from "../measure/experiment-monitor.ts";
import { refitStaleValues } from "../measure/value-refit.ts";
import { buildApp } from "../server/app.ts";
import { type Db, openDb } from "../store/db.ts";
import { pruneMessageIds } from "../store/events.ts";
import { migrate } from "../store/migrate.ts";
import { ensureEventPartitions } from "../store/partitions.ts";
import { onWork, workSignal } from "../store/work-signal.ts";
import { createKey, createWorkspace, listWorkspaces } from "../store/workspaces.ts";
import { UsageError } from "./context.ts";

const DEDUPE_DAYS = 8;
const HOUR = 3600_000;

/** `engine: false` serves HTTP only, leaving memberships, scenarios and sending to `tact worker` processes. */
export async function serve(opts: { engine?: boolean } = {}): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel });
  const withEngine = opts.engine !== false;
  if (!withEngine && !config.databaseUrl)
    throw new UsageError(
      "--no-engine: the embedded database serves one process, so no worker could run the engine; set DATABASE_URL",
    );
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(db);
  logger.info(
    { backend: db.backend, dataDir: db.backend === "pglite" ? config.dataDir : undefined },
    "database ready",
  );

  if ((await listWorkspaces(db)).length === 0) {
    await createWorkspace(db, "default");
    const write = await createKey(db, "default", "write");
    const admin = await createKey(db, "default", "admin");
    process.stdout.write(
      [
        "",
        "Created workspace 'default'. Its keys are shown this once; keep them:",
        `  write key (tracking API, web snippet): ${write.key}`,
        `  admin key (admin API):                 ${admin.key}`,
        "Send a first event:",
        `  curl -u ${write.key}: -H 'Content-Type: application/json' \\`,
        `    -d '{"userId":"u1","event":"signed_up"}' http://localhost:${config.port}/v1/track`,
        "",
      ].join("\n"),
    );
  }

  const engine = processEngine(db, config, logger, withEngine);
  const app = await buildApp({
    db,
    clock: systemClock,
    logger,
    onIngested: engine.stored,
    ingest: config.ingest,
  });
  const housekeeping = startHousekeeping(db, logger, config.valueRefitHours);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: finishing requests in flight");
    clearInterval(housekeeping);
    try {
      await app.close();
      await engine.stop();
      await db.close();
      logger.info("stopped cleanly");
      process.exit(0);
    } catch (err) {
      logger.error({ err }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  await app.listen({ port: config.port, host: config.host });
  engine.start();
  logger.info({ port: config.port, engine: withEngine }, "listening");
}

/**
 * Hourly: event partitions ahead, message ids past the dedupe window, the value models refitted when due
 * (then the segments and stages that read the value recomputed), and a look at every scenario experiment.
 */
function startHousekeeping(db: Db, logger: Logger, refitHours: number): NodeJS.Timeout {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    const now = systemClock.now();
    const ahead = [0, 1, 2, 3].map((i) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1)));
    ensureEventPartitions(db, ahead)
      .then(() => pruneMessageIds(db, new Date(now.getTime() - DEDUPE_DAYS * 24 * HOUR)))
      .then(async () => {
        if (refitHours <= 0) return;
        const fits = await refitStaleValues(db, {
          now,
          everyMs: refitHours * HOUR,
          readsValue: (ws) => strategyReadsValue(db, ws),
        });
        for (const [ws, fit] of fits) {
          const memberships = await recomputeWorkspace(db, ws, systemClock.now(), readsValue);
          logger.info({ workspace: ws, status: fit.status, memberships }, "customer value refitted");
        }
      })
      .then(() => monitorAllExperiments(db, systemClock.now()))
      .then((winners) => {
        for (const [ws, decisions] of winners)
          for (const d of decisions)
            logger.info(
              { workspace: ws, scenario: d.scenario, winner: d.winner },
              "experiment winner declared",
            );
      })
      .catch((err: unknown) => logger.error({ err }, "housekeeping failed"))
      .finally(() => {
        running = false;
      });
  }, HOUR);
  timer.unref();
  return timer;
}

/**
 * This process's engine (none for `serve --no-engine`), woken by work stored here and, through the database, by
 * work other processes store (store/work-signal.ts).
 */
function processEngine(db: Db, config: Config, logger: Logger, run: boolean) {
  const engine = run
    ? new Engine(db, systemClock, {
        publicUrl: config.publicUrl,
        logger,
        leaseMs: config.sendLeaseMs,
        sendConcurrency: config.sendConcurrency,
        decideLanes: config.decideLanes,
      })
    : null;
  const signal = workSignal(db);
  const unlisten = engine ? onWork(db, () => engine.wake()) : async () => {};
  return {
    /** work was stored here: this process's engine and those of the others take it up */
    stored: () => {
      engine?.wake();
      signal();
    },
    start: () => engine?.start(),
    stop: async () => {
      await unlisten();
      await engine?.stop();
    },
  };
}

/** `tact worker`: keeps memberships current, runs scenarios and sends messages, without serving HTTP. */
export async function worker(): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel });
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(db);
  const engine = processEngine(db, config, logger, true);
  // Applies what stopped servers left in the ingestion log.
  const ingest = new IngestQueue(db, {
    ...config.ingest,
    clock: systemClock,
    logger,
    onApplied: engine.stored,
  });
  ingest.start();
  engine.start();
  const housekeeping = startHousekeeping(db, logger, config.valueRefitHours);
  logger.info({ backend: db.backend }, "worker running");
  const stop = async (signal: string) => {
    logger.info({ signal }, "worker stopping");
    clearInterval(housekeeping);
    await ingest.stop();
    await engine.stop();
    await db.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}
