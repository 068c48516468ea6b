-- Which match each feedback is about: once anyone has answered about a match, its coach
-- is not asked again (services/notification/follow_ups.py).
ALTER TABLE feedback_authors ADD COLUMN match_id uuid;
CREATE INDEX feedback_authors_match ON feedback_authors (match_id);
