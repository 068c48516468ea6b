-- The matcher's indexes now live in memory (services/matching/engine.py), built from
-- these tables at start; the term arrays of the first matcher go. Pairs can be retracted.
DROP INDEX IF EXISTS needs_terms;
DROP INDEX IF EXISTS research_outputs_terms;
ALTER TABLE proposed_matches ADD COLUMN retracted_at timestamptz;
ALTER TABLE needs DROP COLUMN terms;
ALTER TABLE research_outputs DROP COLUMN terms;
