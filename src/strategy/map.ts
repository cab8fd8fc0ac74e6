// The communication map (`tact strategy map`): one self-contained HTML page — inline CSS and SVG, no scripts,
// fonts or images from anywhere — with the journey stages as columns and the channels as rows, each scenario's
// messages in the column of the stage it serves and the row of its channel, and beside it the rules, the goals
// and the expected pressure per channel against the caps. Everything taken from the document is HTML-escaped.
import type { Diagnostic } from "./diagnostics.ts";
import { duration, esc, journeyStrip, loadBar, num, percent, STYLE, timing } from "./map-html.ts";
import { journeyOrder, servedStages } from "./map-journey.ts";
import type { PlannedSend } from "./map-timeline.ts";
import { estimatePressure, type PressureReport, type StrategyFacts } from "./pressure.ts";
import type { Goal, Scenario, Strategy, Trigger } from "./types.ts";

export interface MapOptions {
  /** the strategy file, shown in the header */
  file?: string;
  /** lint warnings to list under the map */
  warnings?: readonly Diagnostic[];
  pressure?: PressureReport;
}

/** The column of scenarios that are not tied to one stage. */
export const ANY_STAGE = "any stage";

export function renderCommunicationMap(
  strategy: Strategy,
  facts: StrategyFacts | null,
  opts: MapOptions = {},
): string {
  const pressure = opts.pressure ?? estimatePressure(strategy, facts);
  const body = [
    header(strategy, facts, opts.file),
    summary(strategy, facts, pressure),
    mapGrid(strategy, facts, pressure),
    scenarioTable(strategy, facts, pressure),
    warnings(opts.warnings ?? []),
  ].join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(strategy.name)} — communication map</title>
<style>${STYLE}</style></head>
<body>
${body}
</body></html>
`;
}

function header(strategy: Strategy, facts: StrategyFacts | null, file: string | undefined): string {
  const data = facts
    ? `${esc(num(facts.customers, 0))} customers, data as of ${esc(facts.at.slice(0, 16).replace("T", " "))} UTC`
    : "no customer data: sizes and rates are not shown";
  return `<header><h1>${esc(strategy.name)} — communication map</h1>
<div class="muted">${file ? `${esc(file)} · ` : ""}time zone ${esc(strategy.timezone)} · currency ${esc(strategy.currency)} · ${data}</div></header>`;
}

function goalTarget(g: Goal, currency: string): string {
  return g.target.kind === "conversion_rate"
    ? `${percent(g.target.rate)} convert`
    : `${num(g.target.amount, 2)} ${currency} per customer`;
}

function summary(strategy: Strategy, facts: StrategyFacts | null, pressure: PressureReport): string {
  const r = strategy.rules;
  const caps = r.frequency
    .map(
      (f) =>
        `<li>max ${esc(f.max)} per ${esc(duration(f.perMs))} on ${f.channels === null ? "all channels" : esc(f.channels.join(", "))}</li>`,
    )
    .join("");
  const quiet = r.quietHours
    ? `${esc(clock(r.quietHours.start))}–${esc(clock(r.quietHours.end))} customer's local time`
    : "none";
  const rules = `<div class="panel" id="rules"><h2>Rules</h2><table>
<tr><th>consent</th><td>${esc(r.consent === "opt_in" ? "opt_in — marketing needs an explicit opt-in" : "opt_out — allowed until unsubscribed")}</td></tr>
<tr><th>quiet hours</th><td>${quiet}</td></tr>
<tr><th>frequency caps</th><td>${caps ? `<ul>${caps}</ul>` : "none"}</td></tr>
<tr><th>min gap</th><td>${r.minGapMs > 0 ? esc(duration(r.minGapMs)) : "none"}</td></tr>
<tr><th>control group</th><td>${esc(percent(r.controlGroup))} of customers get no marketing</td></tr>
<tr><th>channel order</th><td>${esc(r.channelOrder.join(" → "))}</td></tr></table></div>`;
  const goals = Object.values(strategy.goals)
    .map(
      (g) =>
        `<tr data-goal="${esc(g.name)}"><td>${esc(g.name)}</td><td>${esc(g.event)} within ${esc(duration(g.windowMs))}</td><td>${esc(goalTarget(g, strategy.currency))}</td></tr>`,
    )
    .join("");
  const goalPanel = `<div class="panel" id="goals"><h2>Goals</h2><table><tr><th>goal</th><th>conversion</th><th>target</th></tr>${goals}</table></div>`;
  return `<section class="summary">${rules}${goalPanel}${pressurePanel(strategy, facts, pressure)}</section>`;
}

function clock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
}

function pressurePanel(strategy: Strategy, facts: StrategyFacts | null, pressure: PressureReport): string {
  const WEEK = 7 * 86_400_000;
  const rows = Object.values(strategy.channels).map((ch) => {
    const load = pressure.byChannel[ch.name] ?? 0;
    const heaviest = Object.entries(pressure.byStage).reduce((m, [, l]) => Math.max(m, l[ch.name] ?? 0), 0);
    const caps = strategy.rules.frequency
      .filter((f) => f.channels === null || f.channels.includes(ch.name))
      .map((f) => (f.max * WEEK) / f.perMs);
    const reach = facts?.channels[ch.name];
    const reachText =
      reach && facts
        ? `${num(reach.reachable, 0)} reachable (${percent(reach.reachable / Math.max(facts.customers, 1))})`
        : "";
    return `<tr data-channel="${esc(ch.name)}"><td>${esc(ch.name)}</td><td>${esc(num(load, 2))}</td><td>${esc(num(heaviest, 2))}</td><td>${loadBar(heaviest, caps)}</td><td>${esc(reachText)}</td></tr>`;
  });
  const basis =
    pressure.basis === "data"
      ? "from the last 28 days of events"
      : "from the document alone: schedules only (open the database for event rates)";
  const capped = pressure.findings.filter((f) => f.kind !== "min_gap").length;
  return `<div class="panel" id="pressure"><h2>Pressure: messages per customer per week</h2>
<table><tr><th>channel</th><th>all customers</th><th>busiest stage</th><th>vs weekly caps</th><th>reach</th></tr>${rows.join("")}</table>
<div class="muted">Expected marketing messages, ${esc(basis)}. Ticks mark the caps, per week. ${capped > 0 ? `<span class="warn">${capped} cap finding(s): see the warnings.</span>` : ""}</div></div>`;
}

interface Card {
  scenario: Scenario;
  send: PlannedSend;
  channel: string;
  others: string[];
}

/** The channel a message is drawn in: the one most of its messages are expected on. */
function mainChannel(send: PlannedSend): { channel: string; others: string[] } | null {
  const ranked = Object.entries(send.channels).sort((a, b) => b[1] - a[1]);
  const first = ranked[0];
  return first ? { channel: first[0], others: ranked.slice(1).map(([c]) => c) } : null;
}

function mapGrid(strategy: Strategy, facts: StrategyFacts | null, pressure: PressureReport): string {
  const stages = journeyOrder(strategy);
  const columns = [...stages];
  const placed = new Map<string, Card[]>();
  for (const sc of Object.values(strategy.scenarios)) {
    const served = servedStages(strategy, sc);
    const cols = served === null ? [ANY_STAGE] : served;
    if (served === null && !columns.includes(ANY_STAGE)) columns.push(ANY_STAGE);
    for (const send of pressure.scenarios[sc.name]?.plan.sends ?? []) {
      const main = mainChannel(send);
      if (!main) continue;
      for (const col of cols) {
        const key = `${col}\u0000${main.channel}`;
        placed.set(key, [...(placed.get(key) ?? []), { scenario: sc, send, ...main }]);
      }
    }
  }
  const head = columns
    .map(
      (c) =>
        `<th class="stage" data-stage="${esc(c)}">${esc(c.replace(/_/g, " "))}${facts && c !== ANY_STAGE ? `<div class="muted">${esc(num(facts.stages[c] ?? 0, 0))}</div>` : ""}</th>`,
    )
    .join("");
  const rows = Object.values(strategy.channels).map((ch) => {
    const cells = columns.map((c) => {
      const cards = (placed.get(`${c}\u0000${ch.name}`) ?? []).sort(
        (a, b) => b.scenario.priority - a.scenario.priority || a.send.atMs - b.send.atMs,
      );
      return `<td data-cell="${esc(c)}/${esc(ch.name)}">${cards.map((card) => messageCard(card, facts)).join("")}</td>`;
    });
    return `<tr><th class="channel" data-row="${esc(ch.name)}">${esc(ch.name)}<div class="muted">${esc(ch.kind)}</div></th>${cells.join("")}</tr>`;
  });
  const strip = journeyStrip(stages.map((s) => ({ name: s, count: facts ? (facts.stages[s] ?? 0) : null })));
  return `<section class="map" id="map"><h2>Communication map</h2>
<div class="muted">Stages in journey order (first contact → most valuable → decline), not the document's first-match order. A scenario sits in the columns of the stages its trigger or audience names; “any stage” holds the rest. Each message sits in the row of the channel it is expected to go out on.</div>
${strip}
<table><tr><th class="channel">channel</th>${head}</tr>${rows.join("")}</table></section>`;
}

function messageCard(card: Card, facts: StrategyFacts | null): string {
  const sc = card.scenario;
  const tags = [
    `goal ${sc.goal}`,
    `priority ${sc.priority}`,
    sc.mode === "pilot" ? `pilot ${percent(sc.sample)}` : "live",
    sc.kind === "transactional" ? "transactional" : "",
    sc.experiment ? `experiment ${sc.experiment.variants.map((v) => v.name).join("/")}` : "",
    facts ? `audience ${num(facts.scenarios[sc.name]?.audience ?? 0, 0)}` : "",
  ].filter((t) => t !== "");
  const alt = card.others.length > 0 ? ` <span class="muted">or ${esc(card.others.join(", "))}</span>` : "";
  const share =
    card.send.weight < 0.999
      ? ` <span class="muted">(${esc(percent(card.send.weight))} of entrants)</span>`
      : "";
  return `<div class="msg ${sc.mode === "pilot" ? "pilot" : ""} ${sc.kind === "transactional" ? "transactional" : ""}" data-scenario="${esc(sc.name)}" data-step="${esc(card.send.stepId)}">
<b>${esc(sc.name)}</b> · ${esc(timing(card.send.atMs))} · ${esc(card.send.template)}${alt}${share}<br>${tags.map((t) => `<span class="tag">${esc(t)}</span>`).join("")}</div>`;
}

function triggerText(t: Trigger): string {
  switch (t.kind) {
    case "event":
      return `event ${t.event}${t.where ? ` where ${t.where.source}` : ""}`;
    case "schedule":
      return t.schedule.kind === "once"
        ? `once at ${t.schedule.date} ${clock(t.schedule.minuteOfDay)}`
        : `every ${t.schedule.every} at ${clock(t.schedule.minuteOfDay)}`;
    case "api":
      return "API call";
    case "segment_entered":
      return `enters segment ${t.segment}`;
    case "segment_exited":
      return `leaves segment ${t.segment}`;
    case "stage_entered":
      return `enters stage ${t.stage}`;
    case "stage_left":
      return `leaves stage ${t.stage}`;
  }
}

function scenarioTable(strategy: Strategy, facts: StrategyFacts | null, pressure: PressureReport): string {
  const rows = Object.values(strategy.scenarios)
    .sort((a, b) => b.priority - a.priority)
    .map((sc) => {
      const p = pressure.scenarios[sc.name];
      const sends = (p?.plan.sends ?? [])
        .map((s) => `${timing(s.atMs)} ${s.template} (${Object.keys(s.channels).join("/")})`)
        .join("; ");
      const weekly = p ? Object.entries(p.perCustomerWeek).filter(([, v]) => v > 0) : [];
      return `<tr data-scenario-row="${esc(sc.name)}"><td><b>${esc(sc.name)}</b><div class="muted">${esc(sc.kind)}, ${esc(sc.mode)}${sc.mode === "pilot" ? ` ${esc(percent(sc.sample))}` : ""}</div></td>
<td>${esc(triggerText(sc.trigger))}${sc.reentryMs !== null ? `<div class="muted">re-entry after ${esc(duration(sc.reentryMs))}</div>` : ""}</td>
<td>${esc(sc.audience?.source ?? "everyone")}${facts ? `<div class="muted">${esc(num(facts.scenarios[sc.name]?.audience ?? 0, 0))} customers now</div>` : ""}</td>
<td>${esc(sc.goal)}</td><td>${esc(sc.priority)}</td>
<td>${sc.experiment ? esc(`${sc.experiment.variants.map((v) => `${v.name}: ${v.template}`).join(", ")}; control ${percent(sc.experiment.control)}`) : "—"}</td>
<td>${esc(sends)}</td><td>${esc(weekly.map(([c, v]) => `${c} ${num(v, 2)}`).join(", ") || "—")}</td></tr>`;
    });
  return `<section class="scenarios" id="scenarios"><h2>Scenarios</h2><table>
<tr><th>scenario</th><th>trigger</th><th>audience</th><th>goal</th><th>priority</th><th>experiment</th><th>messages</th><th>per customer per week</th></tr>
${rows.join("\n")}</table></section>`;
}

function warnings(list: readonly Diagnostic[]): string {
  if (list.length === 0) return "";
  const items = list
    .map((d) => `<li><span class="tag">${esc(d.code)}</span> line ${esc(d.line)}: ${esc(d.message)}</li>`)
    .join("");
  return `<section id="warnings"><h2 class="warn">Warnings</h2><ul>${items}</ul></section>`;
}
