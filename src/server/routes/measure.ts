// Admin API for measurement: experiments run elsewhere and their report, the current customer-value model and a
// customer's value; the engine's own scenario effects and control group are in scenario-effects.ts.
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { experimentReport } from "../../measure/experiment-report.ts";
import { currentValueModel, customerValue, valueOverview } from "../../store/customer-value.ts";
import type { Db } from "../../store/db.ts";
import { findExperiment, listExperiments } from "../../store/experiments.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";
import { effect, interval } from "./effect-schemas.ts";
import { registerMeasureReports } from "./measure-reports.ts";
import { registerScenarioEffects } from "./scenario-effects.ts";

const ws = (p: Principal | undefined) => (p as Principal).workspace;

const incremental = z.object({ estimate: z.number(), ci: interval }).nullable();

const reportSchema = z.object({
  experiment: z.string(),
  controlArm: z.string(),
  metrics: z.array(z.string()),
  startedAt: z.string().nullable(),
  customers: z.number(),
  confidence: z.number(),
  arms: z.array(
    z.object({
      arm: z.string(),
      control: z.boolean(),
      customers: z.number(),
      visits: z.number().nullable(),
      visitRate: z.number().nullable(),
      conversions: z.number().nullable(),
      conversionRate: z.number().nullable(),
      spend: z.number().nullable(),
      spendPerCustomer: z.number().nullable(),
      spendStandardDeviation: z.number().nullable(),
    }),
  ),
  comparisons: z.array(
    z.object({
      arm: z.string(),
      against: z.string(),
      visit: effect.nullable(),
      conversion: effect.nullable(),
      spend: effect.nullable(),
      spendPooled: effect.nullable(),
      spendBootstrap: z.unknown(),
      incrementalConversions: incremental,
      incrementalSpend: incremental,
      warnings: z.array(z.string()),
    }),
  ),
  warnings: z.array(z.string()),
});

export function registerMeasure(api: ApiRegistry, db: Db, clock: Clock): void {
  registerScenarioEffects(api, db, clock);
  registerMeasureReports(api, db, clock);
  api.route(
    {
      method: "GET",
      url: "/api/v1/experiments",
      summary: "List the experiments imported into this workspace",
      tag: "measurement",
      auth: "admin",
      response: z.object({
        experiments: z.array(
          z.object({
            name: z.string(),
            controlArm: z.string(),
            metrics: z.array(z.string()),
            updatedAt: z.string(),
          }),
        ),
      }),
    },
    async ({ principal }) => {
      const list = await listExperiments(db, ws(principal).id);
      return {
        experiments: list.map((e) => ({
          name: e.name,
          controlArm: e.controlArm,
          metrics: e.metrics,
          updatedAt: e.updatedAt.toISOString(),
        })),
      };
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/experiments/{name}/report",
      summary: "Per-arm rates and spend, uplift of each arm over the control with 95% CI, p-value and power",
      tag: "measurement",
      auth: "admin",
      params: z.object({ name: z.string().min(1).max(200) }),
      query: z.object({
        bootstrap: z.coerce.number().int().min(100).max(100_000).optional(),
        seed: z.coerce.number().int().optional(),
      }),
      response: reportSchema,
    },
    async ({ params, query, principal }) => {
      const w = ws(principal);
      const experiment = await findExperiment(db, w.id, params.name);
      if (!experiment) throw new HttpError(404, "not_found", `no experiment '${params.name}'`, "name");
      return experimentReport(db, w.id, experiment, {
        bootstrapResamples: query.bootstrap ?? 0,
        ...(query.seed !== undefined ? { seed: query.seed } : {}),
      });
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/value/model",
      summary: "The current customer-value model (BG/NBD + Gamma-Gamma or RFM only) and its spread",
      tag: "measurement",
      auth: "admin",
      response: z.object({
        model: z.record(z.string(), z.unknown()),
        overview: z.record(z.string(), z.unknown()),
      }),
    },
    async ({ principal }) => {
      const w = ws(principal);
      const model = await currentValueModel(db, w.id);
      if (!model) throw new HttpError(404, "not_found", "no value model yet: run tact value fit", "model");
      return { model: { ...model }, overview: { ...(await valueOverview(db, w.id)) } };
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/customers/{id}/value",
      summary: "A customer's RFM scores, expected purchases, probability alive and predicted CLV",
      tag: "measurement",
      auth: "admin",
      params: z.object({ id: z.string().regex(/^\d{1,18}$/, "a customer id is a number") }),
      response: z.record(z.string(), z.unknown()),
    },
    async ({ params, principal }) => {
      const row = await customerValue(db, ws(principal).id, params.id);
      if (!row)
        throw new HttpError(
          404,
          "not_found",
          `no value for customer ${params.id} (no orders, or no fit yet)`,
          "id",
        );
      return row;
    },
  );
}
