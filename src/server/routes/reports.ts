// Admin API for the metrics tree: GET /api/v1/reports/metrics-tree?from&to, the same figures as `tact report --json`.
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { parsePeriod } from "../../measure/metrics-period.ts";
import { metricsTree } from "../../measure/metrics-tree.ts";
import type { Db } from "../../store/db.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const n = z.number();
const maybe = z.number().nullable();

const goal = z.object({
  goal: z.string(),
  event: z.string(),
  windowDays: n,
  target: z.object({ kind: z.enum(["conversion_rate", "revenue_per_customer"]), value: n }),
  scenarios: z.array(z.string()),
  entries: n,
  pending: n,
  conversions: n,
  revenue: n,
  actual: maybe,
  verdict: z.enum(["met", "not_met", "not_enough_data"]),
  reason: z.string(),
});

const interval = z.object({ lower: n, upper: n });
const estimate = z.object({ estimate: n, ci: interval }).nullable();
const group = z.object({
  customers: n,
  conversionRate: maybe,
  revenuePerCustomer: maybe,
  revenue: n,
  windowOpen: n,
});
const comparison = {
  treatment: group,
  control: group,
  uplift: z
    .object({ difference: n, relativeDifference: maybe, ci: interval, pValue: n })
    .nullable()
    .meta({ description: "goal conversion rate, treated − control" }),
  incrementalConversions: estimate,
  incrementalRevenue: estimate,
  cost: n,
  romi: estimate,
  warnings: z.array(z.string()),
};

export const metricsTreeSchema = z.object({
  workspace: z.string().nullable(),
  period: z.object({ from: z.string(), to: z.string() }),
  generatedAt: z.string(),
  strategy: z.object({ version: maybe, name: z.string() }).nullable(),
  currency: z.string().nullable(),
  revenue: z.object({
    revenue: n,
    grossRevenue: n,
    refunds: n,
    refundedAmount: n,
    activeCustomers: n,
    orders: n,
    arpu: maybe,
    ordersPerCustomer: maybe,
    aov: maybe,
    byDay: z.array(z.object({ day: z.string(), orders: n, revenue: n })),
    otherCurrencies: z.array(z.object({ currency: z.string(), orders: n, refunds: n })),
  }),
  channels: z.array(
    z.object({
      channel: z.string(),
      kind: z.string().nullable(),
      costPerMessage: maybe,
      reachable: n,
      reach: maybe,
      sent: n,
      delivered: n,
      opened: n,
      clicked: n,
      bounced: n,
      unsubscribed: n,
      rates: z.object({
        delivered: maybe,
        opened: maybe,
        clicked: maybe,
        bounced: maybe,
        unsubscribed: maybe,
      }),
      cost: n,
    }),
  ),
  scenarios: z.array(
    z.object({
      scenario: z.string(),
      goal: z.string().nullable(),
      entered: n,
      controlEntered: n,
      sent: n,
      cost: n,
      effect: z
        .object({
          controlSource: z.enum(["scenario", "global"]).nullable(),
          goalEvent: z.string(),
          windowDays: n,
          ...comparison,
        })
        .nullable(),
      attributedRevenue: maybe.meta({
        description: "last-touch attributed revenue: not the scenario's effect",
      }),
    }),
  ),
  base: z.object({
    size: n,
    newCustomers: n,
    identified: n,
    digitised: n,
    digitisedShare: maybe,
    stages: z.array(z.object({ stage: z.string(), atStart: n, atEnd: n, shareAtEnd: maybe })),
    flows: z.array(z.object({ from: z.string().nullable(), to: z.string().nullable(), moves: n })),
  }),
  goals: z.array(goal),
  contribution: z
    .object({ label: z.string(), goalEvents: z.array(z.string()), windowDays: n, ...comparison })
    .nullable()
    .meta({ description: "incremental effect of the strategy against the global control group" }),
  attribution: z
    .object({
      label: z.string(),
      model: z.string(),
      revenue: n,
      attributedRevenue: n,
      unattributedRevenue: n,
      conversions: n,
      attributedConversions: n,
    })
    .nullable()
    .meta({
      description: "where revenue came from (last touch), shown beside the incremental effect, never for it",
    }),
  nps: z
    .object({
      nps: maybe,
      ci95: z.object({ low: n, high: n }).nullable(),
      responses: n,
      promoters: n,
      passives: n,
      detractors: n,
      surveysSent: n,
      responseRate: maybe,
      byStage: z.array(z.object({ stage: z.string(), nps: maybe, responses: n })),
      method: z.string(),
    })
    .nullable(),
  notes: z.array(z.string()),
});

export function registerReports(api: ApiRegistry, db: Db, clock: Clock): void {
  api.route(
    {
      method: "GET",
      url: "/api/v1/reports/metrics-tree",
      summary:
        "The metrics tree of a period: revenue = active customers × ARPU (orders per customer × AOV), channels, scenarios, the base and its stages, goals",
      tag: "measurement",
      auth: "admin",
      query: z.object({
        from: z
          .string()
          .max(64)
          .optional()
          .meta({ description: "ISO date or date-time, inclusive (default: 30 days before `to`)" }),
        to: z
          .string()
          .max(64)
          .optional()
          .meta({ description: "ISO date-time, exclusive; a date alone includes that day (default: now)" }),
      }),
      response: metricsTreeSchema,
    },
    async ({ query, principal }) => {
      const w = (principal as Principal).workspace;
      const now = clock.now();
      const period = parsePeriod({ from: query.from, to: query.to }, now);
      if (!period.ok) throw new HttpError(400, "invalid_request", period.message, `query.${period.field}`);
      return metricsTree(db, w.id, { from: period.from, to: period.to, now, workspace: w.name });
    },
  );
}
