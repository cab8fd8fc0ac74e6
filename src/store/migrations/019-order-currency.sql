-- Each order's currency as sent (`properties.currency`, trimmed, upper case; NULL when absent): the reports add up
-- only the orders in the strategy's currency (or without one) and name the others, rather than summing euros and
-- dollars as one number (docs/measurement.md, "Orders in another currency").
ALTER TABLE order_facts ADD COLUMN IF NOT EXISTS currency text;

CREATE OR REPLACE FUNCTION tact_order_currency(properties jsonb) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN NULLIF(upper(btrim(properties ->> 'currency')), '');

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
    INSERT INTO order_facts (workspace_id, customer_id, message_id, occurred_at, refund, amount, order_id, name,
                             currency)
    VALUES (NEW.workspace_id, NEW.customer_id, NEW.message_id, NEW.occurred_at,
            tact_track_kind(NEW.name) = 'order_refunded', tact_order_amount(NEW.properties),
            NEW.properties ->> 'order_id', NEW.name, tact_order_currency(NEW.properties));
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tact_order_facts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_facts (workspace_id, customer_id, message_id, occurred_at, refund, amount, order_id, name,
                           currency)
  SELECT workspace_id, customer_id, message_id, occurred_at, tact_track_kind(name) = 'order_refunded',
         tact_order_amount(properties), properties ->> 'order_id', name, tact_order_currency(properties)
    FROM inserted
   WHERE type = 'track' AND tact_track_kind(name) IN ('order_completed', 'order_refunded');
  RETURN NULL;
END $$;

-- The orders stored before: their currency read from their events.
UPDATE order_facts f SET currency = tact_order_currency(e.properties)
  FROM events e
 WHERE e.workspace_id = f.workspace_id AND e.customer_id = f.customer_id AND e.message_id = f.message_id
   AND e.occurred_at = f.occurred_at AND e.type = 'track'
   AND tact_track_kind(e.name) IN ('order_completed', 'order_refunded')
   AND tact_order_currency(e.properties) IS NOT NULL;
