-- Needs and outputs change: keep the revision matched and whether they still stand.
ALTER TABLE needs ADD COLUMN revision integer NOT NULL DEFAULT 1;
ALTER TABLE research_outputs
    ADD COLUMN revision integer NOT NULL DEFAULT 1,
    ADD COLUMN status   text    NOT NULL DEFAULT 'published';
