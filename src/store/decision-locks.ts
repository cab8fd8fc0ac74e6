// One worker at a time decides for a customer (enters, advances, judges, sends), so the frequency rules stay exact
// with any number of workers; and one at a time for a workspace whose channels have capacity or rate limits, which
// count every customer's sends. Each kind of lock is taken for the whole round in one statement, in one global order
// (the sorted keys), customers' before workspaces', so two workers never wait on each other in a cycle. Held until
// the transaction ends.
import type { Queryable } from "./customers.ts";

async function lockKeys(client: Queryable, keys: readonly string[]): Promise<void> {
  const sorted = [...new Set(keys)].sort();
  if (sorted.length === 0) return;
  await client.query({
    name: "tact-lock-keys",
    text: `SELECT count(pg_advisory_xact_lock(hashtextextended(k, 7274030)))
             FROM unnest($1::text[]) WITH ORDINALITY AS t(k, i)`,
    values: [sorted],
  });
}

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
