-- The chance the decision gave a pair when it was proposed, leaving out what earlier
-- answers about the output added (decision.track_record): an output's answers are read
-- against it, so that its track record measures how far its proposals fared better or
-- worse than their evidence said. NULL for pairs proposed before it was kept.
ALTER TABLE proposed_matches ADD COLUMN chance real;
