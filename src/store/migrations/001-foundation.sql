-- Workspaces, keys, customers, identities, events (partitioned by month), dedupe, suppressions, audit.

CREATE TABLE IF NOT EXISTS workspaces (
  workspace_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE,
  salt text NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS api_keys (
  key_id text PRIMARY KEY,
  workspace_id integer NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('write', 'admin')),
  key_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE SEQUENCE IF NOT EXISTS customer_id_seq;

CREATE TABLE IF NOT EXISTS customers (
  workspace_id integer NOT NULL,
  customer_id bigint NOT NULL,
  user_id text,
  email text,
  phone text,
  telegram_chat_id text,
  traits jsonb NOT NULL DEFAULT '{}'::jsonb,
  traits_updated_at timestamptz,
  timezone text,
  locale text,
  consents jsonb NOT NULL DEFAULT '{}'::jsonb,
  preferred_channel text,
  orders integer NOT NULL DEFAULT 0,
  revenue numeric NOT NULL DEFAULT 0,
  first_order_at timestamptz,
  last_order_at timestamptz,
  first_seen_at timestamptz,
  last_seen_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, customer_id)
) WITH (fillfactor = 80); -- room on each page for in-place (HOT) updates: every event updates its customer
CREATE INDEX IF NOT EXISTS customers_email_idx ON customers (workspace_id, email) WHERE email IS NOT NULL;
CREATE INDEX IF NOT EXISTS customers_user_idx ON customers (workspace_id, user_id) WHERE user_id IS NOT NULL;

-- Every identifier that points at a customer: user ids, anonymous ids and, when the workspace merges on them,
-- normalised emails and phones. The primary key makes two racing requests agree on one customer.
CREATE TABLE IF NOT EXISTS identities (
  workspace_id integer NOT NULL,
  kind text NOT NULL,
  value text NOT NULL,
  customer_id bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, kind, value)
);
CREATE INDEX IF NOT EXISTS identities_customer_idx ON identities (workspace_id, customer_id);

CREATE TABLE IF NOT EXISTS customer_merges (
  workspace_id integer NOT NULL,
  from_customer_id bigint NOT NULL,
  into_customer_id bigint NOT NULL,
  merged_at timestamptz NOT NULL,
  reason text NOT NULL,
  PRIMARY KEY (workspace_id, from_customer_id)
);
CREATE INDEX IF NOT EXISTS customer_merges_into_idx ON customer_merges (workspace_id, into_customer_id);

-- Monthly partitions are created ahead (and on demand for imported history) by the store.
CREATE TABLE IF NOT EXISTS events (
  workspace_id integer NOT NULL,
  customer_id bigint NOT NULL,
  message_id text NOT NULL,
  type text NOT NULL,
  name text,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL,
  properties jsonb NOT NULL DEFAULT '{}'::jsonb,
  context jsonb
) PARTITION BY RANGE (occurred_at);
CREATE INDEX IF NOT EXISTS events_customer_idx ON events (workspace_id, customer_id, occurred_at);

CREATE TABLE IF NOT EXISTS event_dedupe (
  workspace_id integer NOT NULL,
  message_id text NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, message_id)
);
CREATE INDEX IF NOT EXISTS event_dedupe_received_idx ON event_dedupe (received_at);

CREATE TABLE IF NOT EXISTS suppressions (
  workspace_id integer NOT NULL,
  identifier_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, identifier_hash)
);

CREATE TABLE IF NOT EXISTS audit_log (
  audit_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id integer,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_ws_idx ON audit_log (workspace_id, at);

CREATE TABLE IF NOT EXISTS import_progress (
  workspace_id integer NOT NULL,
  source_key text NOT NULL,
  rows_done bigint NOT NULL DEFAULT 0,
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, source_key)
);

-- Consent states per channel: {"email": {"state": "opted_in"|"unsubscribed", "at": "..."}}.
-- Newest wins when one customer's updates meet; the most restrictive wins when two customers merge.
CREATE OR REPLACE FUNCTION tact_consents_newest(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(jsonb_object_agg(k, CASE
      WHEN a->k IS NULL THEN b->k
      WHEN b->k IS NULL THEN a->k
      WHEN (b->k->>'at') >= (a->k->>'at') THEN b->k
      ELSE a->k END), '{}'::jsonb)
  FROM (SELECT jsonb_object_keys(COALESCE(a, '{}'::jsonb)) AS k
        UNION SELECT jsonb_object_keys(COALESCE(b, '{}'::jsonb))) keys
$$;

CREATE OR REPLACE FUNCTION tact_consents_restrictive(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(jsonb_object_agg(k, CASE
      WHEN a->k IS NULL THEN b->k
      WHEN b->k IS NULL THEN a->k
      WHEN (a->k->>'state') = 'unsubscribed' AND (b->k->>'state') <> 'unsubscribed' THEN a->k
      WHEN (b->k->>'state') = 'unsubscribed' AND (a->k->>'state') <> 'unsubscribed' THEN b->k
      WHEN (b->k->>'at') >= (a->k->>'at') THEN b->k
      ELSE a->k END), '{}'::jsonb)
  FROM (SELECT jsonb_object_keys(COALESCE(a, '{}'::jsonb)) AS k
        UNION SELECT jsonb_object_keys(COALESCE(b, '{}'::jsonb))) keys
$$;
