// Admin API for customers: profile, lookup, events, export (everything held on a person) and erasure.
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { identifierHashes } from "../../ingest/ingest.ts";
import type { Db } from "../../store/db.ts";
import { customerEvents } from "../../store/events.ts";
import {
  currentCustomerId,
  eraseCustomer,
  exportCustomer,
  findCustomerIds,
  getProfile,
} from "../../store/profiles.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "a customer id is a number") });

const profileSchema = z.object({
  id: z.string(),
  userId: z.string().nullable(),
  anonymousIds: z.array(z.string()),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  telegramChatId: z.string().nullable(),
  traits: z.record(z.string(), z.unknown()),
  timezone: z.string().nullable(),
  locale: z.string().nullable(),
  consents: z.record(z.string(), z.object({ state: z.string(), at: z.string() })),
  preferredChannel: z.string().nullable(),
  computed: z.object({
    orders: z.number(),
    revenue: z.number(),
    averageOrderValue: z.number().nullable(),
    firstOrderAt: z.string().nullable(),
    lastOrderAt: z.string().nullable(),
    firstSeenAt: z.string().nullable(),
    lastSeenAt: z.string().nullable(),
  }),
  mergedFrom: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const eventSchema = z.object({
  messageId: z.string(),
  type: z.string(),
  name: z.string().nullable(),
  occurredAt: z.string(),
  receivedAt: z.string(),
  properties: z.record(z.string(), z.unknown()),
  context: z.record(z.string(), z.unknown()).nullable(),
});

const notFound = (id: string) => new HttpError(404, "not_found", `no customer ${id} in this workspace`, "id");
const ws = (p: Principal | undefined) => (p as Principal).workspace;

export function registerCustomers(api: ApiRegistry, db: Db, clock: Clock): void {
  api.route(
    {
      method: "GET",
      url: "/api/v1/customers",
      summary: "Find customers by userId, anonymousId or email",
      tag: "customers",
      auth: "admin",
      query: z
        .object({
          userId: z.string().min(1).max(255).optional(),
          anonymousId: z.string().min(1).max(255).optional(),
          email: z.string().min(3).max(254).optional(),
        })
        .refine((q) => q.userId !== undefined || q.email !== undefined || q.anonymousId !== undefined, {
          message: "give userId, anonymousId or email",
          path: ["userId"],
        }),
      response: z.object({ customers: z.array(profileSchema) }),
    },
    async ({ query, principal }) => {
      const ids = await findCustomerIds(db, ws(principal).id, query);
      const profiles = await Promise.all(ids.map((id) => getProfile(db, ws(principal).id, id)));
      return { customers: profiles.filter((p) => p !== undefined) };
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/customers/{id}",
      summary: "A customer's profile and computed attributes (a merged-away id answers with the survivor)",
      tag: "customers",
      auth: "admin",
      params: idParams,
      response: profileSchema,
    },
    async ({ params, principal }) => {
      const profile = await getProfile(db, ws(principal).id, params.id);
      if (!profile) throw notFound(params.id);
      return profile;
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/customers/{id}/events",
      summary: "A customer's events, newest first; pass `next` back as `cursor` for the following page",
      tag: "customers",
      auth: "admin",
      params: idParams,
      query: z.object({
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        cursor: z.string().max(400).optional(),
      }),
      response: z.object({ events: z.array(eventSchema), next: z.string().nullable() }),
    },
    async ({ params, query, principal }) => {
      const cid = await currentCustomerId(db, ws(principal).id, params.id);
      if (!cid) throw notFound(params.id);
      const before = query.cursor ? decodeCursor(query.cursor) : undefined;
      const events = await customerEvents(db, ws(principal).id, cid, query.limit + 1, before);
      const page = events.slice(0, query.limit);
      const last = page[page.length - 1];
      const next = events.length > query.limit && last ? encodeCursor(last.occurredAt, last.messageId) : null;
      return {
        events: page.map((e) => ({
          ...e,
          occurredAt: e.occurredAt.toISOString(),
          receivedAt: e.receivedAt.toISOString(),
        })),
        next,
      };
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/customers/{id}/export",
      summary: "Everything held on one person (data subject access request)",
      tag: "customers",
      auth: "admin",
      params: idParams,
    },
    async ({ params, principal }) => {
      const data = await exportCustomer(db, ws(principal).id, params.id, clock.now());
      if (!data) throw notFound(params.id);
      return data;
    },
  );

  api.route(
    {
      method: "DELETE",
      url: "/api/v1/customers/{id}",
      summary:
        "Erase a customer; their identifiers are kept only as salted hashes so re-sent data is refused",
      tag: "customers",
      auth: "admin",
      params: idParams,
      response: z.object({ erased: z.boolean(), events: z.number() }),
    },
    async ({ params, principal }) => {
      const w = ws(principal);
      const result = await eraseCustomer(
        db,
        w.id,
        params.id,
        (ids) => identifierHashes(w.salt, ids),
        `key:${(principal as Principal).keyId}`,
      );
      if (!result.erased) throw notFound(params.id);
      return result;
    },
  );
}

function encodeCursor(at: Date, messageId: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), messageId])).toString("base64url");
}

function decodeCursor(cursor: string): { at: Date; messageId: string } {
  try {
    const [at, messageId] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [string, string];
    const d = new Date(at);
    // a NUL or an unpaired surrogate decodes from base64 but is not PostgreSQL text
    if (typeof messageId !== "string" || /\0|\p{Cs}/u.test(messageId)) throw new Error("bad cursor");
    if (Number.isNaN(d.getTime()) || d.getTime() < 0 || d.getUTCFullYear() > 9999)
      throw new Error("bad cursor");
    return { at: d, messageId };
  } catch {
    throw new HttpError(
      400,
      "invalid_request",
      "query.cursor: not a cursor returned by this API",
      "query.cursor",
    );
  }
}
