-- Each closed entry's outcome, kept on the entry (docs/metrics-tree.md, "Kept outcomes"): the scenario effects read
-- a closed entry's conversion, revenue, messages sent and their cost from here rather than computing them again
-- from a year's goal events, orders and messages. Two sets, each for the definition it was computed under (a hash
-- of the goal events, condition, window, currency and cost rule; a set under another definition is ignored):
-- `kept_*` for the entry's scenario (its goal; the cost of the entry's own messages) and `kept_all_*` for the whole
-- strategy (every marketing goal, the longest window; the cost of every marketing message in the window). Only
-- the outcome pass writes them (engine/kept-outcomes.ts), to finished entries whose window has closed.
ALTER TABLE scenario_entries
  ADD COLUMN IF NOT EXISTS kept_for bigint,
  ADD COLUMN IF NOT EXISTS kept_converted boolean,
  ADD COLUMN IF NOT EXISTS kept_revenue numeric,
  ADD COLUMN IF NOT EXISTS kept_sent integer,
  ADD COLUMN IF NOT EXISTS kept_cost numeric,
  ADD COLUMN IF NOT EXISTS kept_at timestamptz,
  ADD COLUMN IF NOT EXISTS kept_all_for bigint,
  ADD COLUMN IF NOT EXISTS kept_all_converted boolean,
  ADD COLUMN IF NOT EXISTS kept_all_revenue numeric,
  ADD COLUMN IF NOT EXISTS kept_all_sent integer,
  ADD COLUMN IF NOT EXISTS kept_all_cost numeric,
  ADD COLUMN IF NOT EXISTS kept_all_at timestamptz;

-- The effects find every customer's first entry by reading this index in order: it carries the kept figures too,
-- so a closed entry's outcome is read with it.
DROP INDEX IF EXISTS scenario_entries_customer_idx;
CREATE INDEX IF NOT EXISTS scenario_entries_customer_idx
  ON scenario_entries (workspace_id, customer_id, scenario, entered_at, entry_id)
  INCLUDE (version, variant, global_control, kept_for, kept_converted, kept_revenue, kept_sent, kept_cost,
           kept_all_for, kept_all_converted, kept_all_revenue, kept_all_sent, kept_all_cost);

-- Customers whose kept outcomes may be stale: an event arrived late (its time more than an hour before it was
-- written, so it may fall into a window already closed), an event was edited, moved by a merge or deleted. The
-- reports compute these customers' outcomes live until the outcome pass has computed them again and cleared them.
CREATE TABLE IF NOT EXISTS outcome_dirt (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id integer NOT NULL,
  customer_id bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS outcome_dirt_customer_idx ON outcome_dirt (workspace_id, customer_id);

-- Late events, once per customer and statement, and only for customers with an entry from before the event: a
-- bulk load of history into a new workspace writes nothing here.
CREATE OR REPLACE FUNCTION tact_outcome_dirt_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outcome_dirt (workspace_id, customer_id)
  SELECT l.workspace_id, l.customer_id
    FROM (SELECT workspace_id, customer_id, min(occurred_at) AS since
            FROM inserted WHERE occurred_at < now() - interval '1 hour'
           GROUP BY workspace_id, customer_id) l
   WHERE EXISTS (SELECT 1 FROM scenario_entries se
                  WHERE se.workspace_id = l.workspace_id AND se.customer_id = l.customer_id
                    AND se.entered_at <= l.since);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS outcome_dirt_insert ON events;
CREATE TRIGGER outcome_dirt_insert AFTER INSERT ON events REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION tact_outcome_dirt_inserted();

-- Edits, merges and deletes: the customers on both sides, once each until the pass clears them.
CREATE OR REPLACE FUNCTION tact_outcome_dirty(ws integer, customer bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO outcome_dirt (workspace_id, customer_id)
  SELECT ws, customer
   WHERE NOT EXISTS (SELECT 1 FROM outcome_dirt d WHERE d.workspace_id = ws AND d.customer_id = customer);
$$;
CREATE OR REPLACE FUNCTION tact_outcome_dirt_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tact_outcome_dirty(OLD.workspace_id, OLD.customer_id);
  IF TG_OP = 'UPDATE' AND NEW.customer_id IS DISTINCT FROM OLD.customer_id THEN
    PERFORM tact_outcome_dirty(NEW.workspace_id, NEW.customer_id);
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS outcome_dirt_change ON events;
CREATE TRIGGER outcome_dirt_change AFTER UPDATE OR DELETE ON events FOR EACH ROW
  EXECUTE FUNCTION tact_outcome_dirt_changed();
