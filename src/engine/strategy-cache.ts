// Applied strategy versions as the engine runs them, parsed once per (workspace, version): customers finish a
// scenario on the version they entered with, so older versions stay readable while anyone is on them.
import type { ConditionEnv } from "../core/condition/index.ts";
import type { Queryable } from "../store/customers.ts";
import { currentVersionNumber, strategyVersion } from "../store/strategies.ts";
import { planSteps, type StepPlan } from "../strategy/step-plan.ts";
import type { Strategy } from "../strategy/types.ts";
import type { MembershipModel } from "./membership-model.ts";
import type { ModelSource } from "./membership-refresher.ts";
import { membershipModelOf, parseStored } from "./strategy-runtime.ts";

export interface RunningStrategy {
  version: number;
  strategy: Strategy;
  plans: ReadonlyMap<string, StepPlan>;
  /** for audiences, branches and exit conditions: segments and stages inlined, since_entry allowed */
  env: ConditionEnv;
  membership: MembershipModel;
}

export class StrategyCache {
  readonly #versions = new Map<string, RunningStrategy>();
  readonly #salts = new Map<number, string>();

  /** The workspace's salt: sticky hashing of control groups, samples, variants and splits. */
  async salt(client: Queryable, workspaceId: number): Promise<string> {
    let salt = this.#salts.get(workspaceId);
    if (salt === undefined) {
      const { rows } = await client.query<{ salt: string }>(
        "SELECT salt FROM workspaces WHERE workspace_id = $1",
        [workspaceId],
      );
      salt = rows[0]?.salt ?? "";
      this.#salts.set(workspaceId, salt);
    }
    return salt;
  }

  /** The version in force, or null when the workspace has none. */
  async current(client: Queryable, workspaceId: number): Promise<RunningStrategy | null> {
    const v = await currentVersionNumber(client, workspaceId);
    return v === null ? null : this.version(client, workspaceId, v);
  }

  async version(client: Queryable, workspaceId: number, version: number): Promise<RunningStrategy | null> {
    const key = `${workspaceId}:${version}`;
    const known = this.#versions.get(key);
    if (known) return known;
    const stored = await strategyVersion(client, workspaceId, version);
    if (!stored) return null;
    const strategy = parseStored(stored);
    const membership = membershipModelOf(strategy, version);
    const running: RunningStrategy = {
      version,
      strategy,
      plans: new Map(Object.values(strategy.scenarios).map((s) => [s.name, planSteps(s)])),
      env: { ...membership.env, allowSinceEntry: true },
      membership,
    };
    this.#versions.set(key, running);
    return running;
  }
}

/** The membership model of the version in force, for the refresher; parsed once per version by the cache. */
export function strategyModels(cache: StrategyCache = new StrategyCache()): ModelSource {
  return async (client, workspaceId) => (await cache.current(client, workspaceId))?.membership ?? null;
}
