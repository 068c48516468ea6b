-- Why an answer said "not useful" (contracts.events.NotUsefulReason), from a fixed list.
ALTER TABLE answers ADD COLUMN reason text;
