// Admin API for the engine's own measurement: the incremental effect report of the strategy, its scenarios and
// their variants, and the global control group (its salt periods, and a rotation of its salt).
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { controlGroupStatus, rotateControlGroup } from "../../measure/control-group.ts";
import { ScenarioEffectInputError, scenarioEffects } from "../../measure/scenario-effect.ts";
import type { Db } from "../../store/db.ts";
import { RotationError } from "../../store/global-control.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";
import { effect, interval } from "./effect-schemas.ts";

const ws = (p: Principal | undefined) => (p as Principal).workspace;

const scaled = z.object({ estimate: z.number(), ci: interval }).nullable();
const group = z.object({
  group: z.string(),
  customers: z.number(),
  conversions: z.number(),
  conversionRate: z.number().nullable(),
  revenue: z.number(),
  revenuePerCustomer: z.number().nullable(),
  revenueStandardDeviation: z.number().nullable(),
  messagesSent: z.number(),
  cost: z.number(),
  windowOpen: z.number(),
});
const comparison = z.object({
  treatment: z.string(),
  control: z.string(),
  conversion: effect,
  revenue: effect,
  revenueBootstrap: z.unknown(),
  incrementalConversions: scaled,
  incrementalRevenue: scaled,
  cost: z.number(),
  romi: scaled,
  warnings: z.array(z.string()),
});
const scenario = z.object({
  scenario: z.string(),
  goal: z.string(),
  goalEvent: z.string(),
  windowDays: z.number(),
  mode: z.enum(["live", "pilot"]),
  controlSource: z.enum(["scenario", "global"]).nullable(),
  control: group,
  treatment: group,
  effect: comparison.nullable(),
  variants: z.array(z.object({ variant: z.string(), figures: group, effect: comparison.nullable() })),
  experiment: z
    .object({
      winnerAction: z.enum(["report", "route"]),
      metric: z.enum(["proportion", "mean"]),
      decision: z.record(z.string(), z.unknown()).nullable(),
      look: z.record(z.string(), z.unknown()).nullable(),
      lookError: z.string().nullable(),
    })
    .nullable(),
  pilot: group.nullable(),
  globalControl: group,
  warnings: z.array(z.string()),
});
const report = z.object({
  from: z.string().nullable(),
  to: z.string(),
  currency: z.string().nullable(),
  confidence: z.number(),
  strategy: z
    .object({
      goalEvents: z.array(z.string()),
      windowDays: z.number(),
      treatment: group,
      control: group,
      effect: comparison.nullable(),
      unrecorded: z.number(),
      warnings: z.array(z.string()),
    })
    .nullable(),
  scenarios: z.array(scenario),
  warnings: z.array(z.string()),
});
const controlGroup = z.object({
  share: z.number().nullable(),
  periods: z.array(
    z.object({
      from: z.string(),
      until: z.string().nullable(),
      fingerprint: z.string(),
      rotatedBy: z.string(),
    }),
  ),
});
const time = z.iso.datetime({ offset: true }).or(z.iso.date());

export function registerScenarioEffects(api: ApiRegistry, db: Db, clock: Clock): void {
  api.route(
    {
      method: "GET",
      url: "/api/v1/reports/scenarios",
      summary:
        "Incremental effect of the strategy, each scenario and each variant against control groups: conversion and revenue per customer with 95% CI, p-value, incremental conversions and money, ROMI, power, the experiment's winner",
      tag: "measurement",
      auth: "admin",
      query: z.object({
        from: time.optional(),
        to: time.optional(),
        scenario: z.string().min(1).max(200).optional(),
        bootstrap: z.enum(["true", "false", "1", "0"]).optional(),
      }),
      response: report,
    },
    async ({ query, principal }) => {
      try {
        return await scenarioEffects(db, ws(principal).id, {
          to: query.to ? new Date(query.to) : clock.now(),
          ...(query.from ? { from: new Date(query.from) } : {}),
          ...(query.scenario !== undefined ? { scenario: query.scenario } : {}),
          bootstrap: query.bootstrap === "true" || query.bootstrap === "1",
        });
      } catch (err) {
        if (!(err instanceof ScenarioEffectInputError)) throw err;
        const path = `query.${err.field}`;
        if (err.field === "scenario") throw new HttpError(404, "not_found", err.message, path);
        throw new HttpError(400, "invalid_request", `${path}: ${err.message}`, path);
      }
    },
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/control-group",
      summary: "The global control group: its share and every salt period (fingerprints, not salts)",
      tag: "measurement",
      auth: "admin",
      response: controlGroup,
    },
    async ({ principal }) => controlGroupStatus(db, ws(principal).id),
  );

  api.route(
    {
      method: "POST",
      url: "/api/v1/control-group/rotate",
      summary: "Rotate the global control group's salt: a new group for journeys beginning from now on",
      tag: "measurement",
      auth: "admin",
      response: controlGroup,
    },
    async ({ principal }) => {
      try {
        return await rotateControlGroup(db, ws(principal).id, clock.now(), "api");
      } catch (err) {
        if (err instanceof RotationError) throw new HttpError(409, "conflict", err.message, "at");
        throw err;
      }
    },
  );
}
