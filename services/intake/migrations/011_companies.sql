-- A company's master data as partners described it, with the partner each field came
-- from (services/intake/companies.py states the rule for conflicts).
CREATE TABLE IF NOT EXISTS companies (
    org_number text PRIMARY KEY,
    country text NOT NULL,
    name text NOT NULL,
    county text,
    municipality text,
    region text,
    iuc text,
    sources jsonb NOT NULL,  -- field → {"partner": …, "at": …}
    revision integer NOT NULL DEFAULT 1,  -- each change +1: concurrent changes are told apart, not locked
    updated_at timestamptz NOT NULL DEFAULT now()
);
