-- Track events by customer and name. One customer's events of a few names (the real-time check of a condition
-- like `count(order_completed where …) >= 1`, which has no window) are read without the page views of every
-- month; the whole base's events of one name are read from this small index instead of every month's table.
-- Partial, so page views, screens and identifies (most of the volume) do not pay for it at ingestion.
CREATE INDEX IF NOT EXISTS events_track_customer_idx ON events (workspace_id, customer_id, name, occurred_at)
  WHERE type = 'track';
