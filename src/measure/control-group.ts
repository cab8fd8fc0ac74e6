// The global control group as users see it: the share held out (the strategy's `rules.control_group`) and every
// salt period, oldest first, with a fingerprint instead of the salt (the salt itself stays private). Rotating
// starts a new period: a new group is drawn for journeys that begin from then on, every earlier one is kept.
import { createHash } from "node:crypto";
import { type Db, withTransaction } from "../store/db.ts";
import {
  globalControlPeriods,
  rotateGlobalControlSalt,
  type StoredSaltPeriod,
} from "../store/global-control.ts";
import { currentStrategyVersion } from "../store/strategies.ts";
import { loadStrategy } from "../strategy/load.ts";

export interface ControlGroupPeriod {
  from: string;
  /** the next period's start; null for the period in force */
  until: string | null;
  /** the first 12 hex digits of the salt's SHA-256: tells periods apart without disclosing the salt */
  fingerprint: string;
  rotatedBy: string;
}

export interface ControlGroupStatus {
  /** share of customers held out, from the strategy in force; null without one */
  share: number | null;
  periods: ControlGroupPeriod[];
}

function view(periods: readonly StoredSaltPeriod[]): ControlGroupPeriod[] {
  return periods.map((p, i) => {
    const next = periods[i + 1];
    return {
      from: new Date(p.from).toISOString(),
      until: next ? new Date(next.from).toISOString() : null,
      fingerprint: createHash("sha256").update(p.salt).digest("hex").slice(0, 12),
      rotatedBy: p.rotatedBy,
    };
  });
}

async function share(db: Db, workspaceId: number): Promise<number | null> {
  const stored = await currentStrategyVersion(db.pool, workspaceId);
  const loaded = stored ? loadStrategy(stored.source, `strategy version ${stored.version}`) : null;
  return loaded?.ok ? loaded.strategy.rules.controlGroup : null;
}

export async function controlGroupStatus(db: Db, workspaceId: number): Promise<ControlGroupStatus> {
  return {
    share: await share(db, workspaceId),
    periods: view(await globalControlPeriods(db.pool, workspaceId)),
  };
}

export async function rotateControlGroup(
  db: Db,
  workspaceId: number,
  at: Date,
  by: string,
): Promise<ControlGroupStatus> {
  const periods = await withTransaction(db, (c) => rotateGlobalControlSalt(c, workspaceId, at, by));
  return { share: await share(db, workspaceId), periods: view(periods) };
}
