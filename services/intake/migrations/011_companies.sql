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
    updated_at timestamptz NOT NULL DEFAULT now()
);
