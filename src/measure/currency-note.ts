// Orders in another currency than the strategy's are left out of every money figure (store/period-metrics.ts,
// `inCurrency`); each report says so, naming them, rather than add euros and dollars as one number.
import type { Queryable } from "../store/customers.ts";
import { type OtherCurrency, otherCurrencyOrders } from "../store/period-metrics.ts";

/** What the reports say of orders in another currency than the strategy's; null when there are none. */
export function otherCurrenciesNote(other: readonly OtherCurrency[], currency: string): string | null {
  if (other.length === 0) return null;
  const list = other
    .map((o) => `${o.currency}: ${o.orders} orders${o.refunds > 0 ? `, ${o.refunds} refunds` : ""}`)
    .join("; ");
  return (
    `Orders in another currency than ${currency} (the strategy's) are not added to any money figure — revenue, ` +
    `orders and ARPU, incremental and attributed revenue, customer value — though a goal they reach still ` +
    `counts: ${list}.`
  );
}

/** The note for a period's orders in another currency than `currency`, read from the store; null when none. */
export async function otherCurrenciesWarning(
  client: Queryable,
  workspaceId: number,
  from: Date | null,
  to: Date,
  currency: string,
): Promise<string | null> {
  return otherCurrenciesNote(await otherCurrencyOrders(client, workspaceId, from, to, currency), currency);
}
