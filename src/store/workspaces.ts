// Workspaces (tenants) and their API keys. Keys are random, shown once, and stored as SHA-256 hashes.
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "./db.ts";
import type { WorkspaceSettingsRow } from "./schema.ts";

export type KeyKind = "write" | "admin";

export interface Workspace {
  id: number;
  name: string;
  salt: string;
  settings: WorkspaceSettingsRow;
}

export interface CreatedKey {
  keyId: string;
  key: string;
  kind: KeyKind;
  workspace: string;
}

export class NotFoundError extends Error {}
export class ConflictError extends Error {}

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function checkWorkspaceName(name: string): string | undefined {
  return NAME_RE.test(name)
    ? undefined
    : "a workspace name is 1-63 characters of lower-case letters, digits, '-' and '_', starting with a letter or digit";
}

export async function createWorkspace(db: Db, name: string): Promise<Workspace> {
  const problem = checkWorkspaceName(name);
  if (problem) throw new ConflictError(problem);
  const row = await db.kysely
    .insertInto("workspaces")
    .values({ name, salt: randomBytes(16).toString("hex") })
    .onConflict((oc) => oc.column("name").doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new ConflictError(`workspace ${name} already exists`);
  return toWorkspace(row);
}

export async function listWorkspaces(db: Db): Promise<Workspace[]> {
  const rows = await db.kysely.selectFrom("workspaces").selectAll().orderBy("workspace_id").execute();
  return rows.map(toWorkspace);
}

export async function findWorkspace(db: Db, name: string): Promise<Workspace | undefined> {
  const row = await db.kysely
    .selectFrom("workspaces")
    .selectAll()
    .where("name", "=", name)
    .executeTakeFirst();
  return row ? toWorkspace(row) : undefined;
}

export async function workspacesById(db: Db, ids: readonly number[]): Promise<Map<number, Workspace>> {
  if (ids.length === 0) return new Map();
  const rows = await db.kysely
    .selectFrom("workspaces")
    .selectAll()
    .where("workspace_id", "in", [...ids])
    .execute();
  return new Map(rows.map((r) => [r.workspace_id, toWorkspace(r)]));
}

export async function getWorkspace(db: Db, name: string): Promise<Workspace> {
  const ws = await findWorkspace(db, name);
  if (!ws) throw new NotFoundError(`no workspace named ${name}`);
  return ws;
}

export async function updateWorkspaceSettings(
  db: Db,
  name: string,
  patch: WorkspaceSettingsRow,
): Promise<Workspace> {
  const ws = await getWorkspace(db, name);
  const settings = { ...ws.settings, ...patch };
  await db.kysely
    .updateTable("workspaces")
    .set({ settings: JSON.stringify(settings) })
    .where("workspace_id", "=", ws.id)
    .execute();
  return { ...ws, settings };
}

function toWorkspace(row: {
  workspace_id: number;
  name: string;
  salt: string;
  settings: WorkspaceSettingsRow;
}): Workspace {
  return { id: row.workspace_id, name: row.name, salt: row.salt, settings: row.settings ?? {} };
}

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
function randomToken(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = "";
  for (const b of bytes) {
    if (b < 248) out += BASE62[b % 62]; // 248 = 4 × 62: no modulo bias
    if (out.length === length) break;
  }
  return out.length === length ? out : out + randomToken(length - out.length);
}

/** A key looks like `tact_write_<id>_<secret>`; the id is public (listed, used to revoke), the whole is the secret. */
export async function createKey(db: Db, workspaceName: string, kind: KeyKind): Promise<CreatedKey> {
  const ws = await getWorkspace(db, workspaceName);
  const keyId = randomToken(10);
  const key = `tact_${kind}_${keyId}_${randomToken(32)}`;
  await db.kysely
    .insertInto("api_keys")
    .values({ key_id: keyId, workspace_id: ws.id, kind, key_hash: hashKey(key) })
    .execute();
  return { keyId, key, kind, workspace: ws.name };
}

export interface KeyInfo {
  keyId: string;
  kind: KeyKind;
  workspace: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export async function listKeys(db: Db, workspaceName?: string): Promise<KeyInfo[]> {
  let q = db.kysely
    .selectFrom("api_keys")
    .innerJoin("workspaces", "workspaces.workspace_id", "api_keys.workspace_id")
    .select(["key_id", "kind", "workspaces.name", "api_keys.created_at", "revoked_at"])
    .orderBy("api_keys.created_at");
  if (workspaceName) q = q.where("workspaces.name", "=", workspaceName);
  const rows = await q.execute();
  return rows.map((r) => ({
    keyId: r.key_id,
    kind: r.kind,
    workspace: r.name,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  }));
}

export async function revokeKey(
  db: Db,
  keyId: string,
  at: Date = new Date(),
  workspaceId?: number,
): Promise<void> {
  // Accept the whole key as well as its id.
  const id = /^tact_(write|admin)_/.test(keyId) ? (keyId.split("_")[2] ?? keyId) : keyId;
  let q = db.kysely
    .updateTable("api_keys")
    .set({ revoked_at: at })
    .where("key_id", "=", id)
    .where("revoked_at", "is", null);
  if (workspaceId !== undefined) q = q.where("workspace_id", "=", workspaceId);
  const res = await q.executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) throw new NotFoundError(`no active key with id ${id}`);
}

export interface Principal {
  workspace: Workspace;
  kind: KeyKind;
  keyId: string;
}

/** Resolves a presented key to its workspace; cached for a second so ingestion does not query per request. */
export class KeyResolver {
  #cache = new Map<string, { principal: Principal; until: number }>();
  constructor(
    private readonly db: Db,
    private readonly ttlMs = 1000,
  ) {}

  async resolve(key: string): Promise<Principal | undefined> {
    if (key.length === 0 || key.length > 200) return undefined;
    const hash = hashKey(key);
    const now = Date.now();
    const hit = this.#cache.get(hash);
    if (hit && hit.until > now) return hit.principal;
    const row = await this.db.kysely
      .selectFrom("api_keys")
      .innerJoin("workspaces", "workspaces.workspace_id", "api_keys.workspace_id")
      .select(["key_id", "kind", "workspaces.workspace_id", "name", "salt", "settings"])
      .where("key_hash", "=", hash)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    if (!row) {
      this.#cache.delete(hash);
      return undefined;
    }
    const principal: Principal = { workspace: toWorkspace(row), kind: row.kind, keyId: row.key_id };
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(hash, { principal, until: now + this.ttlMs });
    return principal;
  }

  forget(): void {
    this.#cache.clear();
  }
}
