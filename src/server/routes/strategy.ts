// Admin API for the strategy: the version in force and its history, validation and apply (problems answered as
// structured diagnostics with positions), segments and stages with their sizes, a customer's memberships.
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { gatherStrategyFacts } from "../../engine/strategy-facts.ts";
import { applyStrategy, parseStored } from "../../engine/strategy-runtime.ts";
import type { Db } from "../../store/db.ts";
import { membershipHistory, membershipSizes } from "../../store/memberships.ts";
import { currentCustomerId } from "../../store/profiles.ts";
import {
  currentStrategyVersion,
  listStrategyVersions,
  type StrategyVersion,
  strategyVersion,
} from "../../store/strategies.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { Diagnostic } from "../../strategy/diagnostics.ts";
import { lintStrategy } from "../../strategy/lint.ts";
import { MAX_STRATEGY_BYTES } from "../../strategy/load.ts";
import { type StrategyLint, validateStrategy } from "../../strategy/validate.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const diagnosticSchema = z.object({
  severity: z.enum(["error", "warning"]),
  code: z.string(),
  message: z.string(),
  file: z.string(),
  line: z.number(),
  column: z.number(),
  text: z.string(),
  expected: z.string().optional(),
  suggestion: z.string().optional(),
});

const versionSchema = z.object({
  version: z.number(),
  name: z.string(),
  checksum: z.string(),
  appliedAt: z.string(),
  appliedBy: z.string(),
});

const sourceBody = z.object({
  source: z.string().max(MAX_STRATEGY_BYTES, `a strategy is at most ${MAX_STRATEGY_BYTES} bytes`),
  file: z.string().min(1).max(255).default("strategy.yaml"),
});

const sizeSchema = z.object({ name: z.string(), condition: z.string(), customers: z.number() });

const ws = (p: Principal | undefined) => (p as Principal).workspace;
const versionJson = (v: Omit<StrategyVersion, "source">) => ({
  version: v.version,
  name: v.name,
  checksum: v.checksum,
  appliedAt: v.appliedAt.toISOString(),
  appliedBy: v.appliedBy,
});
const noStrategy = () =>
  new HttpError(404, "no_strategy", "no strategy has been applied to this workspace yet");

/** Diagnostics in the API's error shape: the first problem as the error, all of them beside it. */
export class InvalidStrategyError extends HttpError {
  constructor(readonly diagnostics: Diagnostic[]) {
    const first = diagnostics.find((d) => d.severity === "error") ?? diagnostics[0];
    super(
      422,
      "invalid_strategy",
      first ? `${first.file}:${first.line}:${first.column}: ${first.message}` : "the strategy is not valid",
      "source",
      { diagnostics },
    );
  }
}

export function registerStrategy(api: ApiRegistry, db: Db, clock: Clock): void {
  api.route(
    {
      method: "GET",
      url: "/api/v1/strategy",
      summary: "The strategy in force: its version and source",
      tag: "strategy",
      auth: "admin",
      response: versionSchema.extend({ source: z.string() }),
    },
    async ({ principal }) => {
      const v = await currentStrategyVersion(db.pool, ws(principal).id);
      if (!v) throw noStrategy();
      return { ...versionJson(v), source: v.source };
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/strategy/versions",
      summary: "Every applied version, newest first",
      tag: "strategy",
      auth: "admin",
      response: z.object({ versions: z.array(versionSchema) }),
    },
    async ({ principal }) => ({
      versions: (await listStrategyVersions(db.pool, ws(principal).id)).map(versionJson),
    }),
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/strategy/versions/{version}",
      summary: "One applied version with its source",
      tag: "strategy",
      auth: "admin",
      params: z.object({ version: z.coerce.number().int().min(1).max(2_000_000_000) }),
      response: versionSchema.extend({ source: z.string() }),
    },
    async ({ params, principal }) => {
      const v = await strategyVersion(db.pool, ws(principal).id, params.version);
      if (!v) throw new HttpError(404, "not_found", `no strategy version ${params.version}`, "version");
      return { ...versionJson(v), source: v.source };
    },
  );

  api.route(
    {
      method: "POST",
      url: "/api/v1/strategy/validate",
      summary: "Validate and lint a strategy document without applying it",
      tag: "strategy",
      auth: "admin",
      body: sourceBody,
      maxBodyBytes: MAX_STRATEGY_BYTES + 65_536,
      response: z.object({
        valid: z.boolean(),
        errors: z.array(diagnosticSchema),
        warnings: z.array(diagnosticSchema),
      }),
    },
    async ({ body, principal }) => {
      const now = clock.now();
      const lint: StrategyLint = async (strategy, source) =>
        lintStrategy(strategy, await gatherStrategyFacts(db, ws(principal).id, strategy, now), {
          source,
          now,
        });
      const r = await validateStrategy(body.source, body.file, { lint });
      return { valid: r.valid, errors: r.errors, warnings: r.warnings };
    },
  );

  api.route(
    {
      method: "POST",
      url: "/api/v1/strategy",
      summary:
        "Apply a strategy: stored as a new version and every segment and stage recomputed, in one transaction. " +
        "An invalid document answers 422 with every diagnostic and changes nothing.",
      tag: "strategy",
      auth: "admin",
      body: sourceBody,
      maxBodyBytes: MAX_STRATEGY_BYTES + 65_536,
      responseStatus: 201,
      response: versionSchema.extend({
        customers: z.number(),
        entered: z.number(),
        left: z.number(),
        stageChanges: z.number(),
        warnings: z.array(diagnosticSchema),
      }),
    },
    async ({ body, principal }) => {
      const r = await applyStrategy(
        db,
        ws(principal).id,
        body.source,
        body.file,
        `api key ${(principal as Principal).keyId}`,
        clock.now(),
      );
      if (!r.ok) throw new InvalidStrategyError(r.diagnostics);
      return { ...versionJson(r.version), ...r.recompute, warnings: r.warnings };
    },
  );

  for (const kind of ["segment", "stage"] as const) {
    api.route(
      {
        method: "GET",
        url: `/api/v1/${kind}s`,
        summary: `The ${kind}s of the strategy in force with their current sizes`,
        tag: "strategy",
        auth: "admin",
        response: z.object({ [`${kind}s`]: z.array(sizeSchema) }),
      },
      async ({ principal }) => {
        const v = await currentStrategyVersion(db.pool, ws(principal).id);
        if (!v) throw noStrategy();
        const strategy = parseStored(v);
        const sizes = await membershipSizes(db.pool, ws(principal).id);
        const count = (name: string) => sizes.find((s) => s.kind === kind && s.name === name)?.customers ?? 0;
        const defined = kind === "segment" ? Object.values(strategy.segments) : strategy.stages;
        return {
          [`${kind}s`]: defined.map((d) => ({
            name: d.name,
            condition: d.condition.source,
            customers: count(d.name),
          })),
        };
      },
    );
  }

  api.route(
    {
      method: "GET",
      url: "/api/v1/customers/{id}/memberships",
      summary: "A customer's current stage and segments, and the history of both",
      tag: "customers",
      auth: "admin",
      params: z.object({ id: z.string().regex(/^\d{1,18}$/, "a customer id is a number") }),
      response: z.object({
        stage: z.string().nullable(),
        segments: z.array(z.string()),
        history: z.array(
          z.object({
            kind: z.enum(["segment", "stage"]),
            name: z.string(),
            enteredAt: z.string(),
            leftAt: z.string().nullable(),
          }),
        ),
      }),
    },
    async ({ params, principal }) => {
      const cid = await currentCustomerId(db, ws(principal).id, params.id);
      if (!cid) throw new HttpError(404, "not_found", `no customer ${params.id} in this workspace`, "id");
      const history = await membershipHistory(db.pool, ws(principal).id, cid);
      const open = history.filter((h) => h.leftAt === null);
      return {
        stage: open.find((h) => h.kind === "stage")?.name ?? null,
        segments: open.filter((h) => h.kind === "segment").map((h) => h.name),
        history: history.map((h) => ({
          kind: h.kind,
          name: h.name,
          enteredAt: h.enteredAt.toISOString(),
          leftAt: h.leftAt?.toISOString() ?? null,
        })),
      };
    },
  );
}
