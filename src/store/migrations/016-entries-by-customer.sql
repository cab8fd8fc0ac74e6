-- Each customer's entries of a scenario in the order they entered, carrying what the scenario effects group them by
-- (version, arm, global control): the effects of several scenarios find every customer's first entry of each in
-- the period by reading this index in order, where they sorted the period's entries. It widens the index by
-- customer and scenario that the engine's lookups read, so it costs no extra index on each entry written.
DROP INDEX IF EXISTS scenario_entries_customer_idx;
CREATE INDEX IF NOT EXISTS scenario_entries_customer_idx
  ON scenario_entries (workspace_id, customer_id, scenario, entered_at, entry_id)
  INCLUDE (version, variant, global_control);
