-- Needs and outputs change and close; the read models follow their revisions.
ALTER TABLE needs
    ADD COLUMN revision integer NOT NULL DEFAULT 1,
    ADD COLUMN status   text    NOT NULL DEFAULT 'open';
ALTER TABLE research_outputs
    ADD COLUMN revision integer NOT NULL DEFAULT 1,
    ADD COLUMN status   text    NOT NULL DEFAULT 'published';
