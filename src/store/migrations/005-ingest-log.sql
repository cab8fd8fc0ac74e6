-- The ingestion log: every accepted tracking request is committed here first, as one row, before it is answered.
-- Appliers move rows into customers, identities and events (and delete them) in one transaction each, so an
-- acknowledged event is never lost and never applied twice. The payload is compressed with lz4 where the server
-- has it (a third of the database's work of writing it uncompressed), with PostgreSQL's own pglz otherwise.
CREATE TABLE IF NOT EXISTS ingest_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id integer NOT NULL REFERENCES workspaces (workspace_id),
  received_at timestamptz NOT NULL,
  events integer NOT NULL,
  -- the request as it came: its call (batch, identify, track, …) and its body's text
  call text NOT NULL,
  payload text NOT NULL,
  -- positions in a batch of messages refused or repeated within it, left out when applying
  skip integer[] NOT NULL DEFAULT '{}',
  -- why applying this row failed; such rows are kept for inspection and not applied again
  failed text
);
DO $$
BEGIN
  ALTER TABLE ingest_log ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  NULL;
END $$;
