// One worker at a time decides for a customer (enters, advances, judges, sends), so the frequency rules stay exact
// with any number of workers. A round takes all its customers' locks in one statement, in one global order (the
// sorted keys), so two workers never wait on each other in a cycle. Held until the transaction ends.
import type { Queryable } from "./customers.ts";

export async function lockDecisions(
  client: Queryable,
  who: readonly { ws: number; id: string }[],
): Promise<void> {
  const keys = [...new Set(who.map((w) => `${w.ws}:${w.id}`))].sort();
  if (keys.length === 0) return;
  await client.query({
    name: "tact-lock-decisions",
    text: `SELECT count(pg_advisory_xact_lock(hashtextextended(k, 7274030)))
             FROM unnest($1::text[]) WITH ORDINALITY AS t(k, i)`,
    values: [keys],
  });
}

/**
 * A channel's capacity and rate limits count every decision of its workspace, so rounds of workspaces with a
 * limited channel take a lock per workspace, after their customers' and in workspace order: two workers deciding
 * at once never both take the last free slot. Held until the transaction ends.
 */
export async function lockChannelLimits(client: Queryable, workspaceIds: readonly number[]): Promise<void> {
  const ids = [...new Set(workspaceIds)].sort((a, b) => a - b);
  if (ids.length === 0) return;
  await client.query({
    name: "tact-lock-channel-limits",
    text: `SELECT count(pg_advisory_xact_lock(hashtextextended('channel-limits:' || w, 7274030)))
             FROM unnest($1::integer[]) WITH ORDINALITY AS t(w, i)`,
    values: [ids],
  });
}
