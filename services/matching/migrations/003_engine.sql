-- The matcher's indexes now live in memory (services/matching/engine.py), built from
-- these tables at start; the old term arrays are no longer read. Pairs can be retracted.
DROP INDEX IF EXISTS needs_terms;
DROP INDEX IF EXISTS research_outputs_terms;
ALTER TABLE proposed_matches ADD COLUMN retracted_at timestamptz;
