// Admin API for the workspace's own keys.
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import type { Db } from "../../store/db.ts";
import { audit } from "../../store/profiles.ts";
import {
  createKey,
  type KeyResolver,
  listKeys,
  NotFoundError,
  type Principal,
  revokeKey,
} from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const keyInfo = z.object({
  keyId: z.string(),
  kind: z.enum(["write", "admin"]),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});

export function registerKeys(api: ApiRegistry, db: Db, clock: Clock, keys: KeyResolver): void {
  api.route(
    {
      method: "GET",
      url: "/api/v1/keys",
      summary: "The workspace's keys (ids only; a key's secret is shown once, when it is created)",
      tag: "keys",
      auth: "admin",
      response: z.object({ keys: z.array(keyInfo) }),
    },
    async ({ principal }) => {
      const list = await listKeys(db, (principal as Principal).workspace.name);
      return {
        keys: list.map((k) => ({
          keyId: k.keyId,
          kind: k.kind,
          createdAt: k.createdAt.toISOString(),
          revokedAt: k.revokedAt?.toISOString() ?? null,
        })),
      };
    },
  );

  api.route(
    {
      method: "POST",
      url: "/api/v1/keys",
      summary: "Create a key; the response is the only time its secret is shown",
      tag: "keys",
      auth: "admin",
      body: z.object({ kind: z.enum(["write", "admin"]) }),
      response: z.object({ keyId: z.string(), key: z.string(), kind: z.enum(["write", "admin"]) }),
      responseStatus: 201,
    },
    async ({ body, principal }) => {
      const p = principal as Principal;
      const created = await createKey(db, p.workspace.name, body.kind);
      await audit(db, p.workspace.id, `key:${p.keyId}`, "key.create", created.keyId, { kind: body.kind });
      return { keyId: created.keyId, key: created.key, kind: created.kind };
    },
  );

  api.route(
    {
      method: "DELETE",
      url: "/api/v1/keys/{keyId}",
      summary: "Revoke a key of this workspace",
      tag: "keys",
      auth: "admin",
      params: z.object({ keyId: z.string().min(1).max(200) }),
      response: z.object({ revoked: z.boolean() }),
    },
    async ({ params, principal }) => {
      const p = principal as Principal;
      try {
        await revokeKey(db, params.keyId, clock.now(), p.workspace.id);
      } catch (err) {
        if (err instanceof NotFoundError) throw new HttpError(404, "not_found", err.message, "keyId");
        throw err;
      }
      keys.forget();
      await audit(db, p.workspace.id, `key:${p.keyId}`, "key.revoke", params.keyId, {});
      return { revoked: true };
    },
  );
}
