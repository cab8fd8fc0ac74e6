-- Track events by name: conditions over one event name across all time (`count(order_completed where …) >= 1`)
-- read only that name's events instead of scanning every month. Partial, so page views, screens and identifies
-- (most of the volume) do not pay for it at ingestion.
CREATE INDEX IF NOT EXISTS events_track_name_idx ON events (workspace_id, name, occurred_at) WHERE type = 'track';
