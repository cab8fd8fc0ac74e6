-- The strategy document's versions, segment and stage memberships with their history, and the queue of customers
-- whose memberships must be evaluated again (after new data, or when time alone can change an answer).

CREATE TABLE IF NOT EXISTS strategy_versions (
  workspace_id integer NOT NULL,
  version integer NOT NULL,
  name text NOT NULL,
  source text NOT NULL,
  document jsonb NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL,
  applied_by text NOT NULL,
  PRIMARY KEY (workspace_id, version)
);

-- kind 'segment': one open row per (segment, customer) while the customer is a member.
-- kind 'stage': exactly one open row per customer once a strategy is applied: the current stage.
-- A closed row (left_at set) is history.
CREATE TABLE IF NOT EXISTS memberships (
  workspace_id integer NOT NULL,
  customer_id bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('segment', 'stage')),
  name text NOT NULL,
  entered_at timestamptz NOT NULL,
  left_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS memberships_open_segment_idx
  ON memberships (workspace_id, name, customer_id) WHERE kind = 'segment' AND left_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS memberships_open_stage_idx
  ON memberships (workspace_id, customer_id) WHERE kind = 'stage' AND left_at IS NULL;
CREATE INDEX IF NOT EXISTS memberships_customer_idx ON memberships (workspace_id, customer_id, entered_at);

-- Customers whose memberships are due for evaluation: due_at = now after new data, or the next moment a
-- time-dependent condition (a window, days since ...) can change its answer. `changes` says what changed
-- ('profile', 'event:<name>', 'type:<type>', 'time', 'all') so only the conditions depending on it are evaluated.
CREATE TABLE IF NOT EXISTS membership_due (
  workspace_id integer NOT NULL,
  customer_id bigint NOT NULL,
  due_at timestamptz NOT NULL,
  changes text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (workspace_id, customer_id)
);
CREATE INDEX IF NOT EXISTS membership_due_at_idx ON membership_due (due_at);
