// The API trigger: a caller (a shop's checkout, a password form) starts a scenario whose trigger is `api` for one
// customer, e.g. a receipt. The entry is decided under the customer's lock by the same entry rules as any trigger
// (once, re-entry interval, audience, pilot sample) and stored due now, so the next engine round sends it.
import type { Db } from "../store/db.ts";
import { withTransaction } from "../store/db.ts";
import { lockDecisions } from "../store/decision-locks.ts";
import { currentCustomerId, findCustomerIds } from "../store/profiles.ts";
import { latestEntries } from "../store/scenario-entries.ts";
import type { ScenarioRunner } from "./scenario-runner.ts";
import type { StrategyCache } from "./strategy-cache.ts";

/** Whom to start the scenario for: the business's user id, Tact's customer id, or an email address. */
export type TriggerTarget = { userId: string } | { customerId: string } | { email: string };

export interface TriggerRequest {
  workspaceId: number;
  scenario: string;
  target: TriggerTarget;
  /** the trigger's properties: templates read them as `event.properties.*` */
  properties: Record<string, unknown>;
}

/** Refusals of the entry rules, as `ScenarioRunner.enter` names them. */
export type EntryRefusal = "already_in" | "once" | "reentry_interval" | "not_sampled" | "audience";

export type TriggerOutcome =
  | { ok: true; entryId: string; customerId: string }
  | {
      ok: false;
      reason:
        | EntryRefusal
        | "no_strategy"
        | "unknown_scenario"
        | "not_api_trigger"
        | "unknown_customer"
        | "ambiguous_email";
    };

/** The name the trigger carries into the journey (Liquid `event.name`). */
export const API_TRIGGER_EVENT = "api_trigger";

export class TransactionalTrigger {
  constructor(
    private readonly db: Db,
    private readonly cache: StrategyCache,
    private readonly runner: ScenarioRunner,
  ) {}

  /** Enters the customer into the scenario if its entry rules allow; says why not otherwise. */
  async trigger(req: TriggerRequest, now: Date): Promise<TriggerOutcome> {
    const found = await this.#customer(req.workspaceId, req.target);
    if (!found.ok) return found;
    const customerId = found.customerId;
    return withTransaction(this.db, async (client): Promise<TriggerOutcome> => {
      const rs = await this.cache.current(client, req.workspaceId);
      if (!rs) return { ok: false, reason: "no_strategy" };
      const sc = Object.hasOwn(rs.strategy.scenarios, req.scenario)
        ? rs.strategy.scenarios[req.scenario]
        : undefined;
      if (!sc) return { ok: false, reason: "unknown_scenario" };
      if (sc.trigger.kind !== "api") return { ok: false, reason: "not_api_trigger" };
      await lockDecisions(client, [{ ws: req.workspaceId, id: customerId }]);
      // The customer may have been erased or merged away since the lookup; the lock makes the answer stable.
      const { rows } = await client.query(
        "SELECT 1 FROM customers WHERE workspace_id = $1 AND customer_id = $2",
        [req.workspaceId, customerId],
      );
      if (rows.length === 0) return { ok: false, reason: "unknown_customer" };
      const event = { name: API_TRIGGER_EVENT, occurred_at: now.toISOString(), properties: req.properties };
      const result = await this.runner.enter(client, req.workspaceId, rs, sc, customerId, event, now);
      if (result !== "entered") return { ok: false, reason: result };
      const entry = (await latestEntries(client, req.workspaceId, [customerId]))
        .get(customerId)
        ?.get(sc.name);
      if (!entry) throw new Error("an entry just stored cannot be read back");
      return { ok: true, entryId: entry.entryId, customerId };
    });
  }

  async #customer(
    ws: number,
    target: TriggerTarget,
  ): Promise<
    { ok: true; customerId: string } | { ok: false; reason: "unknown_customer" | "ambiguous_email" }
  > {
    if ("customerId" in target) {
      const id = await currentCustomerId(this.db, ws, target.customerId);
      return id ? { ok: true, customerId: id } : { ok: false, reason: "unknown_customer" };
    }
    const ids = await findCustomerIds(
      this.db,
      ws,
      "userId" in target ? { userId: target.userId } : { email: target.email },
    );
    const [first, second] = ids;
    if (first === undefined) return { ok: false, reason: "unknown_customer" };
    // Two people share the address (no merge on email in this workspace): sending to a guess is worse than asking.
    if (second !== undefined) return { ok: false, reason: "ambiguous_email" };
    return { ok: true, customerId: first };
  }
}
