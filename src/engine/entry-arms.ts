// What a customer gets when entering a scenario: the experiment's arm (sticky hash) and whether they are in the
// global control group at that moment (the salt period in force, the share of the version they enter with). Both
// are recorded on the journey, so its messages are held back by what was true at entry and reports group
// customers the same way. With `winner: route`, a declared winner takes every new entrant outside the control arm.
import { assignArm, bucketOf, CONTROL_ARM, inGlobalControl } from "../core/experiment/index.ts";
import type { Queryable } from "../store/customers.ts";
import { declaredWinner, experimentKey } from "../store/experiment-decisions.ts";
import type { StoredSaltPeriod } from "../store/global-control.ts";
import type { Scenario } from "../strategy/types.ts";
import type { RunningStrategy } from "./strategy-cache.ts";

export interface EntryArm {
  variant: string | null;
  globalControl: boolean;
}

/**
 * Loads what assigning arms at `now` needs once, then assigns any number of customers. `salts` are the
 * workspace's global control periods (`globalControlPeriods`), read once by the caller for all its scenarios.
 */
export async function entryArms(
  client: Queryable,
  ws: number,
  rs: RunningStrategy,
  sc: Scenario,
  salt: string,
  salts: readonly StoredSaltPeriod[],
  now: Date,
): Promise<(customerId: string) => EntryArm> {
  const fraction = rs.strategy.rules.controlGroup;
  const periods = salts.map((p) => ({
    salt: p.salt,
    from: p.from,
    fraction,
  }));
  const exp = sc.experiment;
  const routed =
    exp && exp.winner === "route" ? await declaredWinner(client, ws, sc.name, experimentKey(exp)) : null;
  const weights = exp ? Object.fromEntries(exp.variants.map((v) => [v.name, 1])) : null;
  return (customerId) => {
    const globalControl = inGlobalControl(customerId, periods, now.getTime());
    if (!exp || !weights) return { variant: null, globalControl };
    const arm = assignArm(bucketOf(salt, customerId, sc.name), { control: exp.control, variants: weights });
    if (!arm.ok) return { variant: null, globalControl };
    // The control arm is kept after a winner: it is what the winner's effect is measured against.
    const variant = routed && arm.arm !== CONTROL_ARM ? routed : arm.arm;
    return { variant, globalControl };
  };
}
