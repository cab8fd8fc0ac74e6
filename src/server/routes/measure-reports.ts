// Admin API for the NPS and attribution reports: GET /api/v1/reports/nps and GET /api/v1/reports/attribution.
// Attribution figures are labelled attributed: where revenue came from, not what the messages added (SPEC §7).
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { ATTRIBUTION_MODELS, attributionReport } from "../../measure/attribution-report.ts";
import { NPS_GROUPINGS, npsReport } from "../../measure/nps-report.ts";
import type { Db } from "../../store/db.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const ws = (p: Principal | undefined) => (p as Principal).workspace;

const moment = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .meta({ description: "an ISO date (midnight UTC) or date-time", examples: ["2026-03-01"] });

const period = {
  from: moment.optional().meta({ description: "from this time (default: the first)" }),
  to: moment.optional().meta({ description: "before this time (default: now)" }),
};

function range(
  q: { from?: string | undefined; to?: string | undefined },
  now: Date,
): { from?: Date; to: Date } {
  const to = q.to ? new Date(q.to) : now;
  if (!q.from) return { to };
  const from = new Date(q.from);
  if (from.getTime() >= to.getTime())
    throw new HttpError(400, "invalid_request", "query.from: must be before to", "query.from");
  return { from, to };
}

const figures = {
  responses: z.number(),
  promoters: z.number(),
  passives: z.number(),
  detractors: z.number(),
  nps: z.number().nullable(),
  ci95: z.object({ low: z.number(), high: z.number() }).nullable(),
  standardError: z.number().nullable(),
  comments: z.number(),
};
const npsSchema = z.object({
  workspaceId: z.number(),
  from: z.string().nullable(),
  to: z.string(),
  by: z.enum(NPS_GROUPINGS).nullable(),
  overall: z.object(figures),
  groups: z.array(z.object({ key: z.string(), ...figures })),
  invalid: z.number(),
  surveysSent: z.number(),
  responseRate: z.number().nullable(),
  method: z.string(),
});

const attributed = { attributedRevenue: z.number(), attributedConversions: z.number() };
const attributionSchema = z.object({
  workspaceId: z.number(),
  from: z.string().nullable(),
  to: z.string(),
  model: z.enum(ATTRIBUTION_MODELS),
  label: z.string(),
  conversions: z.object({
    count: z.number(),
    revenue: z.number(),
    refunds: z.number(),
    attributed: z.object({ count: z.number(), revenue: z.number() }),
    unattributed: z.object({ count: z.number(), revenue: z.number() }),
  }),
  byMessage: z.array(
    z.object({ scenario: z.string(), step: z.string(), template: z.string(), ...attributed }),
  ),
  byScenario: z.array(z.object({ scenario: z.string(), ...attributed })),
  byChannel: z.array(z.object({ channel: z.string(), ...attributed })),
  windowsHours: z.record(z.string(), z.number()),
  currency: z.string().nullable(),
  warnings: z.array(z.string()),
});

export function registerMeasureReports(api: ApiRegistry, db: Db, clock: Clock): void {
  api.route(
    {
      method: "GET",
      url: "/api/v1/reports/nps",
      summary:
        "NPS (% promoters − % detractors) overall or by stage, segment, scenario, week or month, with 95% CI",
      tag: "measurement",
      auth: "admin",
      query: z.object({ ...period, by: z.enum(NPS_GROUPINGS).optional() }),
      response: npsSchema,
    },
    async ({ query, principal }) =>
      npsReport(db, ws(principal).id, {
        ...range(query, clock.now()),
        ...(query.by ? { by: query.by } : {}),
      }),
  );

  api.route(
    {
      method: "GET",
      url: "/api/v1/reports/attribution",
      summary:
        "Revenue attributed to messages, scenarios and channels under a model (attributed, not incremental)",
      tag: "measurement",
      auth: "admin",
      query: z.object({ ...period, model: z.enum(ATTRIBUTION_MODELS).optional() }),
      response: attributionSchema,
    },
    async ({ query, principal }) =>
      attributionReport(db, ws(principal).id, {
        ...range(query, clock.now()),
        ...(query.model ? { model: query.model } : {}),
      }),
  );
}
