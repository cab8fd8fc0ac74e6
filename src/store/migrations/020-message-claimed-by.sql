-- The process that last claimed a message for sending (host:pid): who holds a `sending` message, so a send that
-- was interrupted (its worker killed between the provider's acceptance and the commit) or is stuck can be traced
-- to its worker.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS claimed_by text;
