-- Measuring the engine's own scenarios: the rotations of the global control group's salt, each journey's
-- global-control membership as it was when the customer entered, and the winners of scenario experiments.

-- The global control group's salt, one row per period; rows are never deleted, so membership at any past moment
-- can be computed again. No row: the workspace's own salt since the beginning.
CREATE TABLE IF NOT EXISTS global_control_periods (
  workspace_id integer NOT NULL,
  starts_at timestamptz NOT NULL,
  salt text NOT NULL,
  rotated_by text NOT NULL DEFAULT '',
  PRIMARY KEY (workspace_id, starts_at)
);

-- Whether the customer was in the global control group when the journey began (null: entered before it was
-- recorded). The outbox holds the journey's messages back by it, and the reports group customers by it.
ALTER TABLE scenario_entries ADD COLUMN IF NOT EXISTS global_control boolean;
CREATE INDEX IF NOT EXISTS scenario_entries_report_idx ON scenario_entries (workspace_id, scenario, entered_at);

-- The sequential test of a scenario's experiment: every look's always-valid p-values (their running minimum) and,
-- once declared, the winner with the statistics of the look that declared it. A winner is never changed; an
-- experiment with other variants or another control share is another row (its key).
CREATE TABLE IF NOT EXISTS scenario_experiment_decisions (
  workspace_id integer NOT NULL,
  scenario text NOT NULL,
  experiment_key text NOT NULL,
  metric text NOT NULL,
  looks integer NOT NULL DEFAULT 0,
  last_look_at timestamptz,
  p_values jsonb NOT NULL DEFAULT '{}'::jsonb,
  winner text,
  declared_at timestamptz,
  statistics jsonb,
  PRIMARY KEY (workspace_id, scenario, experiment_key)
);
