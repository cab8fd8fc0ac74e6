-- The outbox's decide step claims planned and deferred messages whose time has come: an index on exactly those,
-- so a broadcast of a million messages is claimed batch by batch without reading the ones already decided.
CREATE INDEX IF NOT EXISTS messages_decide_idx ON messages (due_at) WHERE fate IN ('planned', 'deferred');

-- Channel capacity and rate limits count a channel's sends in the current window at every decide batch.
CREATE INDEX IF NOT EXISTS messages_channel_use_idx ON messages (workspace_id, channel, (COALESCE(sent_at, updated_at)))
  WHERE fate IN ('queued', 'sending', 'sent', 'delivered', 'opened', 'clicked');
