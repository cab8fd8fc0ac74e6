// The metrics tree of a workspace over a period (SPEC §7): revenue = active customers × ARPU, ARPU = orders per
// customer × average order value; each channel's reach, message funnel and cost; each scenario's entries and
// cost; the base (size, digitised share, stages and moves between them); each goal's target against its actual.
// A handful of aggregate queries (src/store/period-metrics.ts, base-metrics.ts); ratios with nothing to divide
// by are null, never NaN.

import { baseTotals, type ChannelReachSpec, stageDistribution, stageFlows } from "../store/base-metrics.ts";
import type { Db } from "../store/db.ts";
import { entryTotals, messageTotals, orderTotals } from "../store/period-metrics.ts";
import { currentStrategyVersion } from "../store/strategies.ts";
import { loadStrategy } from "../strategy/load.ts";
import type { Strategy } from "../strategy/types.ts";
import { otherCurrenciesNote } from "./currency-note.ts";
import {
  attributionOf,
  contributionOf,
  gatherEffects,
  npsOf,
  scenarioEffectOf,
} from "./metrics-tree-effects.ts";
import { goalResults } from "./metrics-tree-goals.ts";
import type {
  ChannelMetrics,
  MetricsTree,
  MetricsTreeOptions,
  RevenueTree,
  ScenarioMetrics,
} from "./metrics-tree-types.ts";

export type * from "./metrics-tree-types.ts";

export const ratio = (a: number, b: number): number | null => (b > 0 && Number.isFinite(a) ? a / b : null);

/** The strategy in force; null when none was ever applied, or with why it cannot be read. */
export async function strategyInForce(
  db: Db,
  workspaceId: number,
): Promise<{ strategy: Strategy; version: number | null } | { strategy: null; problem: string } | null> {
  const v = await currentStrategyVersion(db.pool, workspaceId);
  if (!v) return null;
  const loaded = loadStrategy(v.source, `strategy version ${v.version}`);
  if (!loaded.ok) return { strategy: null, problem: `Strategy version ${v.version} no longer loads.` };
  return { strategy: loaded.strategy, version: v.version };
}

export async function metricsTree(
  db: Db,
  workspaceId: number,
  opts: MetricsTreeOptions,
): Promise<MetricsTree> {
  const { from, to } = opts;
  const now = opts.now ?? new Date();
  const inForce = opts.strategy ?? (await strategyInForce(db, workspaceId));
  const applied = inForce?.strategy ? inForce : null;
  const strategy = applied?.strategy ?? null;
  const notes: string[] = inForce && "problem" in inForce ? [inForce.problem] : [];
  if (!strategy)
    notes.push(
      "No strategy has been applied: channel costs and reach, scenario goals, stages and goals are unknown.",
    );

  const channelSpecs: ChannelReachSpec[] = strategy
    ? Object.values(strategy.channels).map((c) => ({
        name: c.name,
        contact: c.contact,
        consent: strategy.rules.consent,
      }))
    : [];
  const pool = db.reports;
  // the effects count what is known: outcomes up to the end of the period, or up to now for a period not over yet
  const effectsPeriod = { from, to: now > from && now < to ? now : to };
  const [orders, messages, entries, base, stages, flows, effects] = await Promise.all([
    orderTotals(pool, workspaceId, from, to, strategy?.timezone ?? "UTC", strategy?.currency ?? null),
    messageTotals(pool, workspaceId, from, to),
    entryTotals(pool, workspaceId, from, to),
    baseTotals(pool, workspaceId, from, to, channelSpecs),
    stageDistribution(pool, workspaceId, from, to),
    stageFlows(pool, workspaceId, from, to),
    gatherEffects(db, workspaceId, effectsPeriod),
  ]);
  notes.push(...effects.failures);
  const goals = strategy
    ? goalResults(
        strategy,
        effects.effects,
        "the scenario effects, which the goals are read from, could not be computed",
      )
    : [];
  // null, not 0, when attribution could not be computed: no figure is better than a false one
  const attributedBy = (list: readonly { key: string; attributedRevenue: number }[] | undefined) => {
    const m = new Map((list ?? []).map((x) => [x.key, x.attributedRevenue]));
    return (key: string) => (effects.attribution ? (m.get(key) ?? 0) : null);
  };
  const attributedToChannel = attributedBy(
    effects.attribution?.byChannel.map((c) => ({ key: c.channel, attributedRevenue: c.attributedRevenue })),
  );
  const attributedToScenario = attributedBy(
    effects.attribution?.byScenario.map((c) => ({ key: c.scenario, attributedRevenue: c.attributedRevenue })),
  );

  const revenue = orders.grossRevenue - orders.refundedAmount;
  const revenueTree: RevenueTree = {
    revenue,
    grossRevenue: orders.grossRevenue,
    refunds: orders.refunds,
    refundedAmount: orders.refundedAmount,
    activeCustomers: orders.buyers,
    orders: orders.orders,
    arpu: ratio(revenue, orders.buyers),
    ordersPerCustomer: ratio(orders.orders, orders.buyers),
    aov: ratio(revenue, orders.orders),
    byDay: orders.byDay,
    otherCurrencies: orders.otherCurrencies,
  };
  if (orders.orders === 0 && orders.refunds === 0) notes.push("No order or refund in the period.");
  const other = otherCurrenciesNote(orders.otherCurrencies, strategy?.currency ?? "");
  if (other) notes.push(other);

  const costOf = (channel: string): number | null => strategy?.channels[channel]?.cost ?? null;
  const channelNames = [
    ...channelSpecs.map((c) => c.name),
    ...new Set(messages.map((m) => m.channel).filter((c) => !channelSpecs.some((s) => s.name === c))),
  ];
  const channels = channelNames.map((name): ChannelMetrics => {
    const rows = messages.filter((m) => m.channel === name);
    const sum = (k: "sent" | "delivered" | "opened" | "clicked" | "bounced" | "recordedCost") =>
      rows.reduce((a, m) => a + m[k], 0);
    const sent = sum("sent");
    const unsubscribed = orders.unsubscribes.get(name) ?? 0;
    const costPerMessage = costOf(name);
    const reachable = base.reach.get(name) ?? 0;
    return {
      channel: name,
      kind: strategy?.channels[name]?.kind ?? null,
      costPerMessage,
      reachable,
      reach: ratio(reachable, base.size),
      sent,
      delivered: sum("delivered"),
      opened: sum("opened"),
      clicked: sum("clicked"),
      bounced: sum("bounced"),
      unsubscribed,
      rates: {
        delivered: ratio(sum("delivered"), sent),
        opened: ratio(sum("opened"), sent),
        clicked: ratio(sum("clicked"), sent),
        bounced: ratio(sum("bounced"), sent),
        unsubscribed: ratio(unsubscribed, sent),
      },
      cost: costPerMessage === null ? sum("recordedCost") : sent * costPerMessage,
      attributedRevenue: attributedToChannel(name),
      revenuePerMessage: ratio(attributedToChannel(name) ?? Number.NaN, sent),
      revenuePerSubscriber: ratio(attributedToChannel(name) ?? Number.NaN, reachable),
    };
  });
  if (messages.length === 0) notes.push("No message was sent in the period.");

  const scenarioNames = [
    ...Object.keys(strategy?.scenarios ?? {}),
    ...new Set([...entries.map((e) => e.scenario), ...messages.map((m) => m.scenario)]),
  ].filter((s, i, all) => all.indexOf(s) === i);
  const scenarios = scenarioNames.map((name): ScenarioMetrics => {
    const e = entries.find((x) => x.scenario === name);
    const rows = messages.filter((m) => m.scenario === name);
    return {
      scenario: name,
      goal: strategy?.scenarios[name]?.goal ?? null,
      entered: e?.entered ?? 0,
      controlEntered: e?.control ?? 0,
      sent: rows.reduce((a, m) => a + m.sent, 0),
      cost: rows.reduce(
        (a, m) => a + (costOf(m.channel) === null ? m.recordedCost : m.sent * (costOf(m.channel) ?? 0)),
        0,
      ),
      // a transactional scenario is never held out: measured for its goal, it has no effect to show
      effect:
        strategy?.scenarios[name]?.kind === "transactional" ? null : scenarioEffectOf(effects.effects, name),
      attributedRevenue: attributedToScenario(name),
    };
  });

  // Stages in the journey's order, then any the history holds that the strategy no longer names.
  const order = strategy?.stages.map((s) => s.name) ?? [];
  const known = [...order, ...stages.map((s) => s.stage).filter((s) => !order.includes(s))];
  const endTotal = stages.reduce((a, s) => a + s.atEnd, 0);
  const stageRows = known.map((stage) => {
    const s = stages.find((x) => x.stage === stage);
    return {
      stage,
      atStart: s?.atStart ?? 0,
      atEnd: s?.atEnd ?? 0,
      shareAtEnd: ratio(s?.atEnd ?? 0, endTotal),
    };
  });
  if (strategy && endTotal === 0) notes.push("No customer had a stage at the end of the period.");
  if (base.size === 0) notes.push("The workspace had no customers by the end of the period.");

  return {
    workspace: opts.workspace ?? null,
    period: { from: from.toISOString(), to: to.toISOString() },
    generatedAt: now.toISOString(),
    strategy: strategy ? { version: applied?.version ?? null, name: strategy.name } : null,
    currency: strategy?.currency ?? null,
    revenue: revenueTree,
    channels,
    scenarios,
    base: {
      size: base.size,
      newCustomers: base.newCustomers,
      identified: base.identified,
      digitised: base.digitised,
      digitisedShare: ratio(base.digitised, base.size),
      stages: stageRows,
      flows,
    },
    goals,
    contribution: contributionOf(effects.effects),
    attribution: attributionOf(effects.attribution),
    nps: npsOf(effects.nps),
    notes,
  };
}
