-- How the reports read commerce: two functions every report, index and trigger share, an index of track events by
-- kind and time, and order_facts, a compact copy of every order and refund kept by the database itself.

-- A track event's kind: its name as the profile normalises it (core/event-kind.ts) — trimmed, lower case,
-- runs of spaces and hyphens as one `_` — so "Order Completed" and "order_completed" are one kind.
CREATE OR REPLACE FUNCTION tact_track_kind(name text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN lower(regexp_replace(btrim(name), '[[:space:]-]+', '_', 'g'));

-- An order's amount as the profile reads it: `revenue`, else `total`, else 0; a JSON number as it is, a string
-- only when it reads as a number (optional sign, fraction, exponent); absurd amounts (≥ 10¹³) ignored.
CREATE OR REPLACE FUNCTION tact_amount(v jsonb) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN (SELECT CASE WHEN abs(n) < 1e13 THEN n END
            FROM (SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::numeric
                              WHEN jsonb_typeof(v) = 'string'
                               AND (v #>> '{}') ~ '^[[:space:]]*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?[[:space:]]*$'
                              THEN btrim(v #>> '{}')::numeric END AS n) x);
CREATE OR REPLACE FUNCTION tact_order_amount(properties jsonb) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN COALESCE(tact_amount(properties -> 'revenue'), tact_amount(properties -> 'total'), 0);

-- Track events by workspace, kind and time: the reports of a period (goals, NPS, unsubscribes, message
-- interactions) read those events only, not every event of the period's months (page views and identifies are
-- most of the volume). Partial, like events_track_customer_idx: page views do not pay for it at ingestion.
CREATE INDEX IF NOT EXISTS events_track_kind_idx ON events (workspace_id, tact_track_kind(name), occurred_at)
  WHERE type = 'track';

-- Every order and refund, one small row each, in the order they arrive: a period's revenue, its orders and the
-- conversions attribution credits are read from here, not from the events' pages, where orders are one event in
-- fifty. Kept by the triggers below on every insert, update (a merge moves events to the surviving customer) and
-- delete (erasure) of events, whatever writes them; retention deletes the months it drops (store/partitions.ts).
-- No key: it mirrors events row for row, duplicates included.
CREATE TABLE IF NOT EXISTS order_facts (
  workspace_id integer NOT NULL,
  customer_id bigint NOT NULL,
  message_id text NOT NULL,
  occurred_at timestamptz NOT NULL,
  refund boolean NOT NULL,
  -- as sent: a refund's amount is usually positive; readers take -abs()
  amount numeric(20,4) NOT NULL,
  order_id text
);
CREATE INDEX IF NOT EXISTS order_facts_time_idx ON order_facts (workspace_id, occurred_at);
CREATE INDEX IF NOT EXISTS order_facts_customer_idx ON order_facts (workspace_id, customer_id, occurred_at);

-- Updates and deletes (a merge, an edit, erasure) are rare and touch few orders: a row trigger on orders only.
CREATE OR REPLACE FUNCTION tact_order_facts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM order_facts WHERE ctid = (
      SELECT ctid FROM order_facts
       WHERE workspace_id = OLD.workspace_id AND customer_id = OLD.customer_id AND message_id = OLD.message_id
         AND occurred_at = OLD.occurred_at
       LIMIT 1);
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.type = 'track'
     AND tact_track_kind(NEW.name) IN ('order_completed', 'order_refunded') THEN
    INSERT INTO order_facts (workspace_id, customer_id, message_id, occurred_at, refund, amount, order_id)
    VALUES (NEW.workspace_id, NEW.customer_id, NEW.message_id, NEW.occurred_at,
            tact_track_kind(NEW.name) = 'order_refunded', tact_order_amount(NEW.properties),
            NEW.properties ->> 'order_id');
  END IF;
  RETURN NULL;
END $$;

-- Inserts (ingestion's COPY and INSERT of whole batches) copy their orders set-wise, once per statement: with a
-- row trigger an insert of 300,000 mixed events took ~50% longer than without, with this one ~15%.
CREATE OR REPLACE FUNCTION tact_order_facts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_facts (workspace_id, customer_id, message_id, occurred_at, refund, amount, order_id)
  SELECT workspace_id, customer_id, message_id, occurred_at, tact_track_kind(name) = 'order_refunded',
         tact_order_amount(properties), properties ->> 'order_id'
    FROM inserted
   WHERE type = 'track' AND tact_track_kind(name) IN ('order_completed', 'order_refunded');
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS order_facts_insert ON events;
CREATE TRIGGER order_facts_insert AFTER INSERT ON events REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION tact_order_facts_inserted();
DROP TRIGGER IF EXISTS order_facts_change ON events;
CREATE TRIGGER order_facts_change AFTER UPDATE OR DELETE ON events FOR EACH ROW
  WHEN (OLD.type = 'track' AND tact_track_kind(OLD.name) IN ('order_completed', 'order_refunded'))
  EXECUTE FUNCTION tact_order_facts_sync();
-- an update that makes an event an order (a name changed to one) is caught here
DROP TRIGGER IF EXISTS order_facts_become ON events;
CREATE TRIGGER order_facts_become AFTER UPDATE ON events FOR EACH ROW
  WHEN (NOT (OLD.type = 'track' AND tact_track_kind(OLD.name) IN ('order_completed', 'order_refunded'))
        AND NEW.type = 'track' AND tact_track_kind(NEW.name) IN ('order_completed', 'order_refunded'))
  EXECUTE FUNCTION tact_order_facts_sync();

-- The orders already stored (the triggers see only what comes after).
INSERT INTO order_facts (workspace_id, customer_id, message_id, occurred_at, refund, amount, order_id)
SELECT workspace_id, customer_id, message_id, occurred_at, tact_track_kind(name) = 'order_refunded',
       tact_order_amount(properties), properties ->> 'order_id'
  FROM events
 WHERE type = 'track' AND tact_track_kind(name) IN ('order_completed', 'order_refunded')
   AND NOT EXISTS (SELECT 1 FROM order_facts);
-- statistics now, not at autovacuum's next round: planned as five rows, a year's orders were joined to their
-- touches one by one
ANALYZE order_facts;
