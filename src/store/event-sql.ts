// How the reports read track events in SQL. The definitions live in the database (migration 012), shared by the
// reports, the `events_track_kind_idx` index and the triggers that keep `order_facts`: one definition, so every
// report counts the same orders with the same amounts as the profile does (ingest/profile.ts), and a condition
// on `trackKind(…)` with `type = 'track'` and a time range is read through the index.

/** A name as the profile normalises it (eventKind): trimmed, lower case, runs of spaces and hyphens as `_`. */
export function kindOf(text: string): string {
  return `tact_track_kind(${text})`;
}

/** The kind of the track event under `alias`. */
export function trackKind(alias: string): string {
  return kindOf(`${alias}.name`);
}

/**
 * The track event under `alias` has one of the kinds of the names in the text array `names` (a parameter): added
 * beside an exact `name = ANY(names)`, it lets the index find a goal's events.
 */
export function kindAmong(alias: string, names: string): string {
  return `${trackKind(alias)} = ANY(ARRAY(SELECT ${kindOf("n")} FROM unnest(${names}) n))`;
}

/** An event's order amount (revenue, else total, else 0) as the profile and the value models read it. */
export function orderAmount(alias: string): string {
  return `tact_order_amount(${alias}.properties)`;
}

/**
 * SQL true for an order_facts row under `alias` in the currency given by the bind parameter `param` (NULL when no
 * strategy names one), or without a currency of its own (migration 019): only those are added up as money.
 */
export function inCurrency(alias: string, param: string): string {
  return `(${param}::text IS NULL OR ${alias}.currency IS NULL OR ${alias}.currency = ${param}::text)`;
}
