-- Each aggregate's content is written whole and read back whole (by id); only feedback's
-- revision is ever picked out of it. json stores the text as checked, without jsonb's
-- conversion to a binary form, which was a third of the cost of storing a need.
ALTER TABLE needs ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE research_outputs ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE participations ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE feedback ALTER COLUMN data TYPE json USING data::json;
