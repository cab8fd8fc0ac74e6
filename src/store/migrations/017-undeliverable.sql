-- Contact points a channel found not to work (an SMTP server refused the mailbox: it does not exist), by contact
-- kind: {"email": {"address": …, "reason": "hard_bounced", "at": …, "message_id": …}}. The rules treat the
-- customer as unreachable on every channel of that kind while their address is still that one (SPEC §5 rule 3);
-- a new address is tried again.
ALTER TABLE customers ADD COLUMN IF NOT EXISTS undeliverable jsonb;
