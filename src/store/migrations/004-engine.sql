-- The scenario engine: customers' positions in scenarios, the inbox of events the engine must react to, every
-- message with its fate, the approval queue of pilot scenarios, and per-workspace secrets for signed links.

-- A customer's journey through one scenario, once per entry. The worker claims rows whose due_at has come.
CREATE TABLE IF NOT EXISTS scenario_entries (
  workspace_id integer NOT NULL,
  entry_id bigint GENERATED ALWAYS AS IDENTITY,
  customer_id bigint NOT NULL,
  scenario text NOT NULL,
  -- the strategy version the customer entered with: they finish on it
  version integer NOT NULL,
  entered_at timestamptz NOT NULL,
  -- active | completed | exited | goal_reached | failed
  state text NOT NULL DEFAULT 'active',
  -- the next step to run ("0", "3.if0.1", ...); null when finished
  step_id text,
  due_at timestamptz,
  -- what a step waits for: {"event": "...", "timeout_at": "..."}; null when not waiting on an event
  waiting jsonb,
  variant text,
  -- the event that triggered the entry, and values steps keep for the later ones (Liquid `scenario.*`)
  trigger_event jsonb,
  context jsonb NOT NULL DEFAULT '{}'::jsonb,
  exit_reason text,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, entry_id)
);
CREATE INDEX IF NOT EXISTS scenario_entries_due_idx ON scenario_entries (due_at) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS scenario_entries_customer_idx ON scenario_entries (workspace_id, customer_id, scenario);

-- Events the engine reacts to (triggers, waits for an event, goals), written in the same transaction that stores
-- them; consumed by the engine's workers.
CREATE TABLE IF NOT EXISTS engine_inbox (
  inbox_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id integer NOT NULL,
  customer_id bigint NOT NULL,
  name text NOT NULL,
  message_id text NOT NULL,
  occurred_at timestamptz NOT NULL,
  properties jsonb NOT NULL DEFAULT '{}'::jsonb,
  received_at timestamptz NOT NULL
);

-- One planned communication to one customer: never twice for the same (entry, step).
-- fate: planned | suppressed | deferred | awaiting_approval | rejected | queued | sending | sent | delivered |
--       opened | clicked | failed | bounced
CREATE TABLE IF NOT EXISTS messages (
  workspace_id integer NOT NULL,
  message_id bigint GENERATED ALWAYS AS IDENTITY,
  customer_id bigint NOT NULL,
  scenario text NOT NULL,
  entry_id bigint NOT NULL,
  step_id text NOT NULL,
  kind text NOT NULL DEFAULT 'marketing',
  channel text,
  template text NOT NULL,
  variant text,
  fate text NOT NULL,
  reason text,
  priority integer NOT NULL DEFAULT 0,
  planned_at timestamptz NOT NULL,
  due_at timestamptz,
  sent_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  cost numeric NOT NULL DEFAULT 0,
  provider_id text,
  -- the rendered subject/text kept for the customer's history (never logged)
  summary jsonb,
  -- the arbiter's trace: every rule checked and its result, so "why (not)?" is answerable
  decision jsonb,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, message_id),
  UNIQUE (workspace_id, entry_id, step_id)
);
CREATE INDEX IF NOT EXISTS messages_customer_idx ON messages (workspace_id, customer_id, sent_at);
CREATE INDEX IF NOT EXISTS messages_outbox_idx ON messages (due_at) WHERE fate IN ('queued', 'sending');

ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS link_secret text;

-- The event names the engine reacts to, over every version applied so far (customers may still be running an
-- older one): ingestion copies events with these names into engine_inbox.
ALTER TABLE strategy_versions ADD COLUMN IF NOT EXISTS inbox_events text[] NOT NULL DEFAULT '{}';

-- One-off and recurring schedules: the next occurrence of each scheduled scenario of the version in force.
CREATE TABLE IF NOT EXISTS scenario_schedules (
  workspace_id integer NOT NULL,
  scenario text NOT NULL,
  version integer NOT NULL,
  -- the local date of the next occurrence, and when it is taken up (the first time zone to reach it)
  next_date text,
  next_at timestamptz,
  last_date text,
  last_at timestamptz,
  PRIMARY KEY (workspace_id, scenario)
);
