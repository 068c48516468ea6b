-- Why an answer said "not useful" (contracts.events.NotUsefulReason), for the board's
-- reach table; null when no reason was given.
ALTER TABLE feedback_answers ADD COLUMN reason text;
