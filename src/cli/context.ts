// What every command needs: configuration, an open and migrated database, output helpers.
import { type Config, loadConfig } from "../config.ts";
import { type Db, openDb } from "../store/db.ts";
import { migrate } from "../store/migrate.ts";

export class UsageError extends Error {}

export async function withDb<T>(fn: (db: Db, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(db);
    return await fn(db, config);
  } finally {
    await db.close();
  }
}

export function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}
