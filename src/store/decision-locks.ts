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
