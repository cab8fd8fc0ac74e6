-- The outbox of scenario `webhook` steps: one HTTP call to another system per (entry, step), planned in the
-- transaction that moves the journey on, then sent (and retried) by the engine's webhook sender.
-- state: planned (waiting for its due_at) | sending (claimed; due_at is the end of the lease) | sent | failed
CREATE TABLE IF NOT EXISTS webhook_calls (
  workspace_id integer NOT NULL,
  -- also the delivery id receivers see (X-Tact-Delivery): the same on every attempt
  call_id bigint GENERATED ALWAYS AS IDENTITY,
  customer_id bigint NOT NULL,
  scenario text NOT NULL,
  entry_id bigint NOT NULL,
  step_id text NOT NULL,
  url text NOT NULL,
  method text NOT NULL,
  -- the rendered JSON body, exactly the bytes sent and signed; null when it could not be rendered
  body text,
  -- the name of the environment variable holding the signing secret (never the secret)
  secret_env text,
  state text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  due_at timestamptz,
  last_error text,
  response_status integer,
  sent_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, call_id),
  UNIQUE (workspace_id, entry_id, step_id)
);
CREATE INDEX IF NOT EXISTS webhook_calls_due_idx ON webhook_calls (due_at) WHERE state IN ('planned', 'sending');
-- a merge moves, and an erasure deletes, one customer's calls
CREATE INDEX IF NOT EXISTS webhook_calls_customer_idx ON webhook_calls (workspace_id, customer_id);
