-- NPS surveys: a message planned by a `survey` step says which survey it carries, so the sender adds the answer
-- links, a text reply on its channel can be matched to it, and reports can count surveys sent beside answers.
-- Answers themselves are `nps_response` events (one per message, updated in place when the customer changes it).
ALTER TABLE messages ADD COLUMN IF NOT EXISTS survey text;
