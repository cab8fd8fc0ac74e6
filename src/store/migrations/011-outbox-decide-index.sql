-- The outbox's decide step claims planned and deferred messages whose time has come: an index on exactly those,
-- so a broadcast of a million messages is claimed batch by batch without reading the ones already decided.
CREATE INDEX IF NOT EXISTS messages_decide_idx ON messages (due_at) WHERE fate IN ('planned', 'deferred');
