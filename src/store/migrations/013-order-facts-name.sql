-- order_facts keeps each order's event name as sent: a goal is an exact event name ("order_completed" is not
-- "Order Completed" to a goal), and a goal that is an order is now read from here, not from the events' pages.
ALTER TABLE order_facts ADD COLUMN IF NOT EXISTS name text;

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
    INSERT INTO order_facts (workspace_id, customer_id, message_id, occurred_at, refund, amount, order_id, name)
    VALUES (NEW.workspace_id, NEW.customer_id, NEW.message_id, NEW.occurred_at,
            tact_track_kind(NEW.name) = 'order_refunded', tact_order_amount(NEW.properties),
            NEW.properties ->> 'order_id', NEW.name);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tact_order_facts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_facts (workspace_id, customer_id, message_id, occurred_at, refund, amount, order_id, name)
  SELECT workspace_id, customer_id, message_id, occurred_at, tact_track_kind(name) = 'order_refunded',
         tact_order_amount(properties), properties ->> 'order_id', name
    FROM inserted
   WHERE type = 'track' AND tact_track_kind(name) IN ('order_completed', 'order_refunded');
  RETURN NULL;
END $$;

-- The rows stored before: copied again from the events with their names (order_facts is derived from events, so
-- a rebuild is exact), then the name is required.
TRUNCATE order_facts;
INSERT INTO order_facts (workspace_id, customer_id, message_id, occurred_at, refund, amount, order_id, name)
SELECT workspace_id, customer_id, message_id, occurred_at, tact_track_kind(name) = 'order_refunded',
       tact_order_amount(properties), properties ->> 'order_id', name
  FROM events
 WHERE type = 'track' AND tact_track_kind(name) IN ('order_completed', 'order_refunded');
ALTER TABLE order_facts ALTER COLUMN name SET NOT NULL;
ANALYZE order_facts;
