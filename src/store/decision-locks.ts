// One worker at a time decides for a customer (enters, advances, judges, sends), so the frequency rules stay exact
// with any number of workers; and one at a time for a workspace whose channels have capacity or rate limits, which
// count every customer's sends. Customers' locks are taken before workspaces', and held until the transaction
// ends. A runner round waits for its customers' locks, taken for the whole round in one statement in one global
// order (the sorted keys); a decide round only tries them, customer by customer as its claim reads their messages,
// skipping the customers another round holds. So two workers never wait on each other in a cycle.
import type { Queryable } from "./customers.ts";

const SEED = 7274030;

async function lockKeys(client: Queryable, keys: readonly string[]): Promise<void> {
  const sorted = [...new Set(keys)].sort();
  if (sorted.length === 0) return;
  await client.query({
    name: "tact-lock-keys",
    text: `SELECT count(pg_advisory_xact_lock(hashtextextended(k, ${SEED})))
             FROM unnest($1::text[]) WITH ORDINALITY AS t(k, i)`,
    values: [sorted],
  });
}

/** A customer's decision lock key, for a row `m` with `workspace_id` and `customer_id` (a claim tries it per row). */
export const CUSTOMER_LOCK_SQL = `hashtextextended(m.workspace_id || ':' || m.customer_id, ${SEED})`;

export function lockDecisions(client: Queryable, who: readonly { ws: number; id: string }[]): Promise<void> {
  return lockKeys(
    client,
    who.map((w) => `${w.ws}:${w.id}`),
  );
}

/** The workspaces' channel-limits locks: two rounds never both take a limited channel's last free slot. */
export function lockChannelLimits(client: Queryable, workspaceIds: readonly number[]): Promise<void> {
  return lockKeys(
    client,
    workspaceIds.map((ws) => `channel-limits:${ws}`),
  );
}
