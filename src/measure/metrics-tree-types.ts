// The shape of the metrics tree (src/measure/metrics-tree.ts) as the CLI, the API and the page read it: counts,
// money in the strategy's currency, ratios as fractions or null when there is nothing to divide by.
import type { Strategy } from "../strategy/types.ts";
import type {
  AttributionSummary,
  Contribution,
  NpsSummary,
  ScenarioEffectSummary,
} from "./metrics-tree-effects.ts";
import type { GoalResult } from "./metrics-tree-goals.ts";

export interface MetricsTreeOptions {
  from: Date;
  to: Date;
  /** when goal windows are judged closed (default: the real time) */
  now?: Date;
  /** the strategy to read channels, stages and goals from (default: the version in force) */
  strategy?: { strategy: Strategy; version: number | null };
  workspace?: string;
}

export interface RevenueTree {
  /** gross revenue of orders − refunded amounts */
  revenue: number;
  grossRevenue: number;
  refunds: number;
  refundedAmount: number;
  /** customers with at least one order in the period */
  activeCustomers: number;
  orders: number;
  /** revenue / active customers */
  arpu: number | null;
  /** orders / active customers */
  ordersPerCustomer: number | null;
  /** revenue / orders (net of refunds, so that the product is exact) */
  aov: number | null;
  byDay: { day: string; orders: number; revenue: number }[];
  /** orders and refunds in another currency than the strategy's: in none of the figures above */
  otherCurrencies: { currency: string; orders: number; refunds: number }[];
}

export interface Rates {
  delivered: number | null;
  opened: number | null;
  clicked: number | null;
  bounced: number | null;
  unsubscribed: number | null;
}

export interface ChannelMetrics {
  channel: string;
  kind: string | null;
  /** null: the channel is not in the strategy; its cost is what the arbiter recorded */
  costPerMessage: number | null;
  /** customers of the base with the contact point and the consent the strategy's rule requires */
  reachable: number;
  reach: number | null;
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  unsubscribed: number;
  /** each as a share of the messages sent */
  rates: Rates;
  cost: number;
  /** revenue attributed to the channel's messages (last touch): where revenue came from, not what it added */
  attributedRevenue: number | null;
  /** attributed revenue per message sent */
  revenuePerMessage: number | null;
  /** attributed revenue per reachable customer */
  revenuePerSubscriber: number | null;
}

export interface ScenarioMetrics {
  scenario: string;
  goal: string | null;
  /** entries in the period, every arm */
  entered: number;
  /** of them, held out: in the scenario's control arm or the global control group */
  controlEntered: number;
  sent: number;
  cost: number;
  /** goal conversion and revenue against the scenario's control group: what the scenario added */
  effect: ScenarioEffectSummary | null;
  /** revenue attributed to the scenario's messages (last touch): not its effect */
  attributedRevenue: number | null;
}

export interface BaseMetrics {
  size: number;
  newCustomers: number;
  identified: number;
  digitised: number;
  digitisedShare: number | null;
  stages: { stage: string; atStart: number; atEnd: number; shareAtEnd: number | null }[];
  flows: { from: string | null; to: string | null; moves: number }[];
}

export interface MetricsTree {
  workspace: string | null;
  period: { from: string; to: string };
  generatedAt: string;
  strategy: { version: number | null; name: string } | null;
  currency: string | null;
  revenue: RevenueTree;
  channels: ChannelMetrics[];
  scenarios: ScenarioMetrics[];
  base: BaseMetrics;
  goals: GoalResult[];
  /** the CRM contribution: the strategy against the global control group (incremental, with its interval) */
  contribution: Contribution | null;
  /** revenue shared among the messages that touched it (last touch), beside the incremental figures */
  attribution: AttributionSummary | null;
  nps: NpsSummary | null;
  /** what the reader must know to read the figures right (no strategy, nothing in the period, …) */
  notes: string[];
}
