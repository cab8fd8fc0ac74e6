// A track event's kind: its name as the profile and the reports read it — trimmed, lower case, runs of spaces and
// hyphens as one `_` — so "Order Completed" and "order_completed" are one kind. The database has the same
// function (tact_track_kind, migration 012) for its index, its triggers and the reports.

export function eventKind(name: string | null): string {
  return (name ?? "")
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, "_");
}

/** Kinds kept in order_facts (migration 012): every order and refund. */
const ORDER_KINDS: readonly string[] = ["order_completed", "order_refunded"];

export const isOrderName = (name: string): boolean => ORDER_KINDS.includes(eventKind(name));
