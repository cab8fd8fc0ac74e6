// The Segment-compatible tracking API: /v1/identify|track|page|screen|group|alias|batch.
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { BacklogFullError, type IngestQueue, type TrackingRequest } from "../../ingest/ingest-queue.ts";
import { tooDeep } from "../../ingest/normalize.ts";
import { batchSchema, CALL_TYPES, callSchemas, LIMITS } from "../../ingest/tracking-schema.ts";
import type { Workspace } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const ingestResponse = z.object({
  success: z.boolean(),
  accepted: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.array(z.object({ index: z.number().int(), path: z.string(), reason: z.string() })),
  queued: z
    .boolean()
    .meta({ description: "answered once logged, before being applied (a burst): repeats are dropped later" }),
});

export function registerTracking(api: ApiRegistry, ingest: IngestQueue, clock: Clock): void {
  const submit = async (principal: unknown, request: TrackingRequest) => {
    try {
      return await ingest.submit((principal as { workspace: Workspace }).workspace, request);
    } catch (err) {
      if (err instanceof BacklogFullError) throw new HttpError(503, "backlog_full", err.message, "", {}, 1);
      throw err;
    }
  };

  for (const type of CALL_TYPES) {
    api.route(
      {
        method: "POST",
        url: `/v1/${type}`,
        summary: `Record one ${type} call (Segment-compatible)`,
        tag: "tracking",
        auth: "write",
        body: z
          .unknown()
          .meta({ ...z.toJSONSchema(callSchemas[type], { io: "input", unrepresentable: "any" }) }),
        response: ingestResponse,
        maxBodyBytes: LIMITS.eventBytes,
      },
      async ({ req, body, principal }) => {
        const text = req.bodyText ?? "";
        const result = await submit(principal, { call: type, body, text, receivedAt: clock.now() });
        const rejection = result.rejected[0];
        if (rejection) {
          throw new HttpError(
            400,
            "invalid_message",
            `${rejection.path || "message"}: ${rejection.reason}`,
            rejection.path,
          );
        }
        return { success: true, ...result };
      },
    );
  }

  api.route(
    {
      method: "POST",
      url: "/v1/batch",
      summary: "Record up to 2,500 calls at once (Segment-compatible); bad items are listed, good ones kept",
      tag: "tracking",
      auth: "write",
      body: z.unknown().meta({ ...z.toJSONSchema(batchSchema, { io: "input", unrepresentable: "any" }) }),
      response: ingestResponse,
      maxBodyBytes: LIMITS.batchBytes,
    },
    async ({ req, body, principal }) => {
      if (typeof body === "object" && body !== null && Array.isArray((body as { batch?: unknown }).batch)) {
        const n = (body as { batch: unknown[] }).batch.length;
        if (n > LIMITS.batchEvents) {
          throw new HttpError(
            400,
            "too_many_events",
            `a batch holds at most ${LIMITS.batchEvents} events; this one has ${n}`,
            "batch",
          );
        }
      }
      const parsed = batchSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const path = issue?.path.join(".") ?? "";
        throw new HttpError(400, "invalid_batch", `${path || "body"}: ${issue?.message ?? "invalid"}`, path);
      }
      const b = parsed.data;
      // The batch's own context and integrations go into every message: the same depth limit applies.
      const deep = tooDeep({ context: b.context, integrations: b.integrations }, LIMITS.maxDepth);
      if (deep) {
        throw new HttpError(
          400,
          "invalid_batch",
          `${deep}: nested deeper than ${LIMITS.maxDepth} levels`,
          deep,
        );
      }
      const text = req.bodyText ?? "";
      const result = await submit(principal, { call: "batch", body: b, text, receivedAt: clock.now() });
      return { success: true, ...result };
    },
  );
}
