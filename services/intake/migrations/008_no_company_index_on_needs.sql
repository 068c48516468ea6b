-- No query of intake's reads needs by company (a company's red thread is reporting's);
-- the index only cost every accepted need an insert into it. The column stays, for an
-- operator's ad-hoc look.
DROP INDEX IF EXISTS needs_company;
