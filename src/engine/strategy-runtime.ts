// The strategy in force: applying a new version (validated, stored and recomputed in one transaction, so a
// version is never half applied) and reading the version in force back as the model the refresher evaluates.
import { conditionDeps } from "../core/condition/index.ts";
import type { Queryable } from "../store/customers.ts";
import { type Db, withTransaction } from "../store/db.ts";
import { type MembershipKind, membershipSizes } from "../store/memberships.ts";
import { currentStrategyVersion, insertStrategyVersion, type StrategyVersion } from "../store/strategies.ts";
import type { Diagnostic } from "../strategy/diagnostics.ts";
import { loadStrategy } from "../strategy/load.ts";
import { reactedEventNames } from "../strategy/reactions.ts";
import type { Strategy } from "../strategy/types.ts";
import { buildMembershipModel, type MembershipModel } from "./membership-model.ts";
import { type RecomputeResult, recomputeMemberships } from "./recompute.ts";
import { syncSchedules } from "./schedules.ts";

export function membershipModelOf(strategy: Strategy, version: number): MembershipModel {
  return buildMembershipModel(
    version,
    Object.fromEntries(Object.values(strategy.channels).map((c) => [c.name, c.contact])),
    Object.values(strategy.segments).map((s) => [s.name, s.condition.ast] as const),
    strategy.stages.map((s) => [s.name, s.condition.ast] as const),
  );
}

/** A stored version was valid when applied; one that no longer loads means the code changed under it. */
export function parseStored(stored: StrategyVersion): Strategy {
  const loaded = loadStrategy(stored.source, `strategy version ${stored.version}`);
  if (!loaded.ok) {
    const first = loaded.diagnostics[0];
    throw new Error(
      `strategy version ${stored.version} no longer loads: ${first?.message ?? "unknown error"}`,
    );
  }
  return loaded.strategy;
}

export interface AppliedStrategy {
  ok: true;
  version: StrategyVersion;
  recompute: RecomputeResult;
  sizes: { kind: MembershipKind; name: string; customers: number }[];
  warnings: Diagnostic[];
}

/**
 * Validates and applies a strategy: a new version is stored and every membership recomputed in one transaction.
 * Memberships that change because the definitions changed are not recorded as entered/exited events: editing a
 * segment is not something the customers did, and must not set off every scenario that listens to it.
 */
export async function applyStrategy(
  db: Db,
  workspaceId: number,
  text: string | Uint8Array,
  file: string,
  appliedBy: string,
  now: Date,
): Promise<AppliedStrategy | { ok: false; diagnostics: Diagnostic[] }> {
  const loaded = loadStrategy(text, file);
  if (!loaded.ok) return { ok: false, diagnostics: loaded.diagnostics };
  const source = typeof text === "string" ? text : Buffer.from(text).toString("utf8");
  return withTransaction(db, async (client) => {
    const version = await insertStrategyVersion(
      client,
      workspaceId,
      {
        name: loaded.strategy.name,
        source,
        document: loaded.source.doc.toJS(),
        appliedBy,
        inboxEvents: [...reactedEventNames(loaded.strategy)],
      },
      now,
    );
    const recompute = await recomputeMemberships(
      client,
      workspaceId,
      membershipModelOf(loaded.strategy, version.version),
      now,
      { emitEvents: false },
    );
    await syncSchedules(client, workspaceId, version.version, loaded.strategy, now);
    return {
      ok: true as const,
      version,
      recompute,
      sizes: await membershipSizes(client, workspaceId),
      warnings: loaded.warnings,
    };
  });
}

/** A full recompute with the version in force, recording changes as events (e.g. after a bulk import). */
export async function recomputeWorkspace(
  db: Db,
  workspaceId: number,
  now: Date,
  /** recompute only when the version in force passes this test */
  when: (model: MembershipModel) => boolean = () => true,
): Promise<RecomputeResult | null> {
  return withTransaction(db, async (client: Queryable) => {
    const stored = await currentStrategyVersion(client, workspaceId);
    if (!stored) return null;
    const model = membershipModelOf(parseStored(stored), stored.version);
    if (!when(model)) return null;
    return recomputeMemberships(client, workspaceId, model, now, { emitEvents: true });
  });
}

/** Whether the workspace's strategy in force reads the customers' fitted value. */
export async function strategyReadsValue(db: Db, workspaceId: number): Promise<boolean> {
  const stored = await currentStrategyVersion(db.pool, workspaceId);
  return stored ? readsValue(membershipModelOf(parseStored(stored), stored.version)) : false;
}

/** Whether some segment or stage reads the customers' fitted value: a new fit changes their members. */
export function readsValue(model: MembershipModel): boolean {
  const units = model.stage ? [...model.segments, model.stage] : model.segments;
  return units.some((u) => u.conditions.some((c) => conditionDeps(c).value));
}
