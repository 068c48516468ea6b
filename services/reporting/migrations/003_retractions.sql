-- Matches can be retracted when their need or output is withdrawn or no longer fits.
ALTER TABLE need_matches
    ADD COLUMN retracted_at      timestamptz,
    ADD COLUMN retraction_reason text;
