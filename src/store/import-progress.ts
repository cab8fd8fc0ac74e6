// Progress of CSV imports, so an interrupted import resumes where it stopped.
import type { Db } from "./db.ts";

export async function readProgress(
  db: Db,
  workspaceId: number,
  sourceKey: string,
): Promise<{ rowsDone: number; finished: boolean } | undefined> {
  const row = await db.kysely
    .selectFrom("import_progress")
    .select(["rows_done", "finished_at"])
    .where("workspace_id", "=", workspaceId)
    .where("source_key", "=", sourceKey)
    .executeTakeFirst();
  return row ? { rowsDone: Number(row.rows_done), finished: row.finished_at !== null } : undefined;
}

export async function writeProgress(
  db: Db,
  workspaceId: number,
  sourceKey: string,
  rowsDone: number,
  finished: boolean,
) {
  await db.pool.query(
    `INSERT INTO import_progress (workspace_id, source_key, rows_done, finished_at, updated_at)
     VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END, now())
     ON CONFLICT (workspace_id, source_key) DO UPDATE
       SET rows_done = EXCLUDED.rows_done, finished_at = EXCLUDED.finished_at, updated_at = now()`,
    [workspaceId, sourceKey, rowsDone, finished],
  );
}
