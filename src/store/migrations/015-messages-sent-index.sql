-- The messages sent in a period, read from one index range with what the reports sum (fate, cost, the entry, the
-- customer, kind, scenario, channel): the metrics tree's channel figures and the scenario effects' costs read a
-- period's messages this way rather than every message row. Only sent messages are in it, so a planned or queued
-- message adds nothing to it until it is sent. At 1,000,000 customers and 1.35 million messages, a month's
-- 449,000 sent messages: 0.22 s → 0.15 s for the channel figures, and 0.3 CPU-seconds less for the effects.
CREATE INDEX IF NOT EXISTS messages_sent_idx ON messages (workspace_id, sent_at)
  INCLUDE (fate, cost, entry_id, customer_id, kind, scenario, channel) WHERE sent_at IS NOT NULL;
