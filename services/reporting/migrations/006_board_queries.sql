-- What the board's queries (services/reporting/kpis.py) need to stay fast at 100,000
-- companies, needs and outputs.

-- Company search by name prefix, without regard to case or Nordic letters: the database
-- may run with the C locale, where lower('Ö') is 'Ö', so the folding is spelt out here
-- (and the query folds what the user typed through the same function).
CREATE FUNCTION name_key(name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(translate(name, 'ÅÄÖÆØÜÉÈÁÀåäöæøüéèáà', 'aaoaoueeaaaaoaoueeaa'));
CREATE INDEX companies_name_key ON companies (name_key(name) text_pattern_ops);

-- Company search by organisation number prefix (byte-wise range scans).
CREATE INDEX companies_org_number_prefix ON companies (org_number text_pattern_ops);

-- White spots and coverage are filtered by when the need was submitted.
CREATE INDEX needs_submitted ON needs (submitted_at);
