// Routes declared once with zod schemas: the same schemas validate requests and describe them in /openapi.json.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { KeyKind, KeyResolver, Principal } from "../store/workspaces.ts";
import { HttpError } from "./errors.ts";

export type Auth = "none" | "write" | "admin";

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  summary: string;
  tag: string;
  auth: Auth;
  params?: P;
  query?: Q;
  body?: B;
  response?: z.ZodType;
  responseStatus?: number;
  maxBodyBytes?: number;
  /** the body reaches the handler as bytes (a Buffer), not parsed as JSON */
  rawBody?: boolean;
}

export interface Handled<P, Q, B> {
  req: FastifyRequest;
  reply: FastifyReply;
  params: P;
  query: Q;
  body: B;
  principal: Principal | undefined;
}

type Out<T> = T extends z.ZodType ? z.output<T> : undefined;

export class ApiRegistry {
  readonly specs: RouteSpec<z.ZodType, z.ZodType, z.ZodType>[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly keys: KeyResolver,
  ) {}

  route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
    spec: RouteSpec<P, Q, B>,
    handler: (h: Handled<Out<P>, Out<Q>, Out<B>>) => Promise<unknown>,
  ): void {
    this.specs.push(spec as unknown as RouteSpec<z.ZodType, z.ZodType, z.ZodType>);
    const fastifyUrl = spec.url.replace(/\{(\w+)\}/g, ":$1");
    this.app.route({
      method: spec.method,
      url: fastifyUrl,
      config: { maxBodyBytes: spec.maxBodyBytes ?? 512 * 1024, rawBody: spec.rawBody ?? false },
      handler: async (req, reply) => {
        const principal = await authenticate(this.keys, req, spec.auth);
        rejectNul(req.params, "params");
        rejectNul(req.query, "query");
        const params = parsePart(spec.params, req.params, "params");
        const query = parsePart(spec.query, req.query, "query");
        const body = parsePart(spec.body, req.body, "body");
        const result = await handler({ req, reply, params, query, body, principal } as Handled<
          Out<P>,
          Out<Q>,
          Out<B>
        >);
        if (spec.responseStatus) reply.code(spec.responseStatus);
        return result;
      },
    });
  }
}

/** PostgreSQL text cannot hold a NUL character: refuse it in path parameters and query values. */
function rejectNul(value: unknown, where: string): void {
  if (typeof value !== "object" || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes("\0") || [v].flat().some((x) => typeof x === "string" && x.includes("\0"))) {
      const path = `${where}.${k}`;
      throw new HttpError(400, "invalid_request", `${path}: must not contain a NUL character`, path);
    }
  }
}

function parsePart<T extends z.ZodType | undefined>(schema: T, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const r = schema.safeParse(value ?? (where === "body" ? undefined : {}));
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [where, ...(issue?.path ?? [])].join(".");
  throw new HttpError(400, "invalid_request", `${path}: ${issue?.message ?? "invalid"}`, path);
}

const BASIC = /^Basic\s+(.+)$/i;
const BEARER = /^Bearer\s+(.+)$/i;

/** Write key: HTTP Basic user (Segment SDKs), a Bearer token, or `writeKey` in the body. Admin key: Bearer. */
export async function authenticate(
  keys: KeyResolver,
  req: FastifyRequest,
  auth: Auth,
): Promise<Principal | undefined> {
  if (auth === "none") return undefined;
  const header = req.headers.authorization ?? "";
  let key: string | undefined;
  const basic = BASIC.exec(header);
  const bearer = BEARER.exec(header);
  if (bearer) key = bearer[1]?.trim();
  else if (basic && auth === "write") {
    const decoded = Buffer.from(basic[1] ?? "", "base64").toString("utf8");
    key = decoded.split(":")[0];
  } else if (auth === "write") {
    const body = req.body as { writeKey?: unknown } | undefined;
    if (body && typeof body === "object" && typeof body.writeKey === "string") key = body.writeKey;
  }
  if (!key) {
    throw new HttpError(
      401,
      "unauthorized",
      auth === "admin"
        ? "an admin key is required: Authorization: Bearer <admin key>"
        : "a write key is required: HTTP Basic user, Bearer token or writeKey in the body",
      "authorization",
    );
  }
  const principal = await keys.resolve(key);
  if (!principal) throw new HttpError(401, "unauthorized", "unknown or revoked key", "authorization");
  if (auth === "admin" && principal.kind !== ("admin" satisfies KeyKind)) {
    throw new HttpError(
      403,
      "forbidden",
      "this endpoint needs an admin key; a write key only sends events",
      "authorization",
    );
  }
  return principal;
}

export function openApiDocument(
  specs: RouteSpec<z.ZodType, z.ZodType, z.ZodType>[],
  version: string,
): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorSchema = z.toJSONSchema(
    z.object({ error: z.object({ code: z.string(), message: z.string(), path: z.string() }) }),
  );
  for (const s of specs) {
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ["path", s.params],
      ["query", s.query],
    ] as const) {
      if (!schema) continue;
      const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, prop] of Object.entries(json.properties ?? {})) {
        parameters.push({
          name,
          in: where,
          required: where === "path" || json.required?.includes(name),
          schema: prop,
        });
      }
    }
    const op: Record<string, unknown> = {
      summary: s.summary,
      tags: [s.tag],
      parameters,
      responses: {
        [String(s.responseStatus ?? 200)]: {
          description: "success",
          content: s.response
            ? { "application/json": { schema: z.toJSONSchema(s.response, { unrepresentable: "any" }) } }
            : undefined,
        },
        "4XX": { description: "bad request", content: { "application/json": { schema: errorSchema } } },
      },
    };
    if (s.rawBody) {
      op.requestBody = {
        required: true,
        content: { "*/*": { schema: { type: "string", format: "binary" } } },
      };
    } else if (s.body) {
      op.requestBody = {
        required: true,
        content: {
          "application/json": { schema: z.toJSONSchema(s.body, { io: "input", unrepresentable: "any" }) },
        },
      };
    }
    if (s.auth !== "none") op.security = [s.auth === "admin" ? { adminKey: [] } : { writeKey: [] }];
    paths[s.url] ??= {};
    (paths[s.url] as Record<string, unknown>)[s.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: "Tact API", version },
    components: {
      securitySchemes: {
        writeKey: {
          type: "http",
          scheme: "basic",
          description: "the workspace's write key as the user name",
        },
        adminKey: { type: "http", scheme: "bearer", description: "an admin key of the workspace" },
      },
    },
    paths,
  };
}
