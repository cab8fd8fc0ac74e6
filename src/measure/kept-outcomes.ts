// The outcome pass: keeps each closed entry's outcome on the entry (migration 021), computed by the scenario
// effects' own SQL under the strategy in force, so that the reports read a closed window's conversion, revenue and
// cost rather than measure them again from a year's events and messages. Run hourly by `tact serve` and `tact
// worker`; what it has not kept yet, the reports measure live. See docs/metrics-tree.md, "Kept outcomes".
import type { Db } from "../store/db.ts";
import { clearDirt, dirtMark, forgetDirty, passClock } from "../store/outcome-dirt.ts";
import { keepOutcomeBatch, pilotKeys } from "../store/scenario-outcomes.ts";
import { currentStrategyVersion } from "../store/strategies.ts";
import { listWorkspaces } from "../store/workspaces.ts";
import { loadStrategy } from "../strategy/load.ts";
import type { Goal } from "../strategy/types.ts";
import { type Ctx, query } from "./scenario-experiment.ts";

/** Entries kept per statement. */
const BATCH = 20_000;

export interface KeptOutcomes {
  /** entries given an outcome */
  kept: number;
  /** kept outcomes forgotten because a late event, an edit or a merge touched their customer */
  forgotten: number;
  /** customers whose outcomes are now kept again */
  cleared: number;
}

/** Keeps the outcomes of the workspace's closed entries; null when no strategy in force loads. */
export async function keepOutcomes(db: Db, workspaceId: number, batch = BATCH): Promise<KeptOutcomes | null> {
  const stored = await currentStrategyVersion(db.pool, workspaceId);
  const loaded = stored ? loadStrategy(stored.source, `strategy version ${stored.version}`) : null;
  if (!loaded?.ok) return null;
  const strategy = loaded.strategy;
  // first the clock, then the marks: every snapshot after this sees the late events the marks stand for
  const clock = await passClock(db);
  const mark = await dirtMark(db, workspaceId);
  const forgotten = mark === "0" ? 0 : await forgetDirty(db, workspaceId, mark);
  const ctx: Ctx = {
    db,
    workspaceId,
    strategy,
    from: new Date(0),
    to: clock.horizon,
    pilots: [],
    bootstrap: false,
    experiments: false,
  };
  // each scenario against its goal (pilot entries too: they are reported apart), and the whole strategy
  const queries = Object.values(strategy.scenarios).flatMap((sc) => {
    const goal = strategy.goals[sc.goal];
    return goal ? [query(ctx, [{ key: sc.name, scenarios: [sc], goals: [goal] }], true)] : [];
  });
  const marketing = Object.values(strategy.scenarios).filter((s) => s.kind === "marketing");
  const goals = [
    ...new Set(marketing.map((s) => strategy.goals[s.goal]).filter((g): g is Goal => g !== undefined)),
  ];
  if (goals.length > 0) {
    const pilots = await pilotKeys(
      db,
      workspaceId,
      marketing.map((s) => s.name),
    );
    queries.push(query({ ...ctx, pilots }, [{ key: "strategy", scenarios: marketing, goals }], false));
  }
  let kept = 0;
  for (const q of queries) {
    let n: number;
    do {
      n = await keepOutcomeBatch(db, q, batch);
      kept += n;
    } while (n === batch);
  }
  const cleared = mark === "0" ? 0 : await clearDirt(db, workspaceId, mark, clock.start);
  return { kept, forgotten, cleared };
}

/** The pass over every workspace with a strategy. */
export async function keepAllOutcomes(db: Db): Promise<Map<number, KeptOutcomes>> {
  const out = new Map<number, KeptOutcomes>();
  for (const ws of await listWorkspaces(db)) {
    const result = await keepOutcomes(db, ws.id);
    if (result) out.set(ws.id, result);
  }
  return out;
}
