-- The ingestion log: every accepted tracking request is committed here first, as one row, before it is answered.
-- Appliers move rows into customers, identities and events (and delete them) in one transaction each, so an
-- acknowledged event is never lost and never applied twice. The payload is stored uncompressed: it is written
-- once and read once, and compressing it would cost more than it saves.
CREATE TABLE IF NOT EXISTS ingest_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id integer NOT NULL REFERENCES workspaces (workspace_id),
  received_at timestamptz NOT NULL,
  events integer NOT NULL,
  -- the validated messages, as a JSON array
  payload text NOT NULL,
  -- why applying this row failed; such rows are kept for inspection and not applied again
  failed text
);
ALTER TABLE ingest_log ALTER COLUMN payload SET STORAGE EXTERNAL;
