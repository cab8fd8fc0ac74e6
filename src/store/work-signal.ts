// Work for the engine, signalled across processes: a process that stores events says so with NOTIFY, and every
// engine process listening wakes at once instead of at its next poll (`tact serve --no-engine` beside workers, or
// several servers). The embedded database belongs to one process, whose engine is woken directly: there nothing
// is sent and nothing listens.
import pg from "pg";
import type { Db } from "./db.ts";

const CHANNEL = "tact_work";
const RECONNECT_MS = 1000;

/** Returns a function that signals work; calls made while a signal is on its way are sent as one more. */
export function workSignal(db: Db): () => void {
  if (db.backend !== "postgres") return () => {};
  let inFlight = false;
  let again = false;
  const send = (): void => {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    db.pool
      .query(`NOTIFY ${CHANNEL}`)
      .catch(() => undefined) // a lost signal costs a poll interval at most
      .finally(() => {
        inFlight = false;
        if (again) {
          again = false;
          send();
        }
      });
  };
  return send;
}

/**
 * Calls `wake` on every signal, on a connection of its own, kept open (re-opened a second after it is lost, with a
 * `wake` then for what came meanwhile). Returns a function that stops listening.
 */
export function onWork(db: Db, wake: () => void): () => Promise<void> {
  if (db.backend !== "postgres") return async () => {};
  // the pool's own settings: the same server, user and session options
  const config: pg.ClientConfig = { ...db.pool.options };
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = (): void => {
    const c = new pg.Client(config);
    client = c;
    const lost = () => {
      if (stopped || client !== c) return;
      client = null;
      c.end().catch(() => undefined);
      retry = setTimeout(connect, RECONNECT_MS);
    };
    c.on("error", lost);
    c.on("end", lost);
    c.on("notification", () => wake());
    c.connect()
      .then(() => c.query(`LISTEN ${CHANNEL}`))
      .then(() => wake())
      .catch(lost);
  };
  connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}
