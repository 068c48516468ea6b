-- The matches intake knows (services/intake/known_matches.py): feedback is accepted only
-- about a known match whose company is in the sender's scope.
CREATE TABLE IF NOT EXISTS known_matches (
    match_id uuid PRIMARY KEY,
    need_id uuid NOT NULL,
    company_org_number text,
    company_region text
);
