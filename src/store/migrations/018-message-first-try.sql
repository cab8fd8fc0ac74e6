-- When a message was first taken to be sent: a channel that cannot be reached (its server down, refusing
-- connections, its login refused) does not use up the message's tries; the message is kept until the channel has
-- been unreachable for the sender's lifetime, counted from here (engine/outbox-send.ts).
ALTER TABLE messages ADD COLUMN IF NOT EXISTS first_tried_at timestamptz;
