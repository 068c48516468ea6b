-- The board's read models. Events arrive on several topics whose order relative to each
-- other is not fixed (a replay interleaves them differently from the live run), so every
-- projection is commutative: each event type writes only its own columns with an upsert,
-- a row may be created by whichever event about it comes first, and what depends on
-- another aggregate (a feedback's company, say) is joined when read, not when written.
-- Times are the events' own times, never now(): a replay gives the same tables.

-- Companies as events describe them; no contact data. The latest description wins.
CREATE TABLE companies (
    org_number   text PRIMARY KEY,
    name         text        NOT NULL,
    country      text        NOT NULL DEFAULT 'SE',
    county       text,
    municipality text,
    region       text,
    iuc          text,
    described_at timestamptz NOT NULL   -- the time of the event whose description is kept
);
CREATE INDEX companies_region ON companies (region);
CREATE INDEX companies_name ON companies (lower(name) text_pattern_ops);

CREATE TABLE participations (
    participation_id   uuid PRIMARY KEY,
    company_org_number text        NOT NULL,
    initiative         text        NOT NULL,   -- the initiative's name
    initiative_owner   text,
    phase              text,
    started_on         date        NOT NULL,
    ended_on           date,
    status             text        NOT NULL,
    recorded_at        timestamptz NOT NULL,
    source             text        NOT NULL
);
CREATE INDEX participations_company ON participations (company_org_number);

ALTER TABLE needs
    ALTER COLUMN title DROP NOT NULL,
    ALTER COLUMN submitted_at DROP NOT NULL,
    ADD COLUMN region          text,
    ADD COLUMN iuc             text,
    ADD COLUMN focus_areas     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN need_type       text,
    ADD COLUMN confidentiality text   NOT NULL DEFAULT 'public',
    ADD COLUMN closed_at       timestamptz,
    ADD COLUMN source          text;
CREATE INDEX needs_company ON needs (company_org_number);
CREATE INDEX needs_open_by_region ON needs (region) WHERE status = 'open';

ALTER TABLE research_outputs
    ALTER COLUMN title DROP NOT NULL,
    ALTER COLUMN project DROP NOT NULL,
    ALTER COLUMN published_at DROP NOT NULL,
    ADD COLUMN output_type text,
    ADD COLUMN trl         integer,
    ADD COLUMN focus_areas text[] NOT NULL DEFAULT '{}',
    -- name, organisation, orcid of each contact researcher; never their e-mail
    ADD COLUMN researchers jsonb  NOT NULL DEFAULT '[]',
    ADD COLUMN source      text;
CREATE INDEX research_outputs_published ON research_outputs (published_at);

-- A match row may be created by its notification or its feedback before the proposal
-- itself has been projected, so everything but the id may still be missing.
ALTER TABLE need_matches
    ALTER COLUMN need_id DROP NOT NULL,
    ALTER COLUMN output_id DROP NOT NULL,
    ALTER COLUMN output_title DROP NOT NULL,
    ALTER COLUMN score DROP NOT NULL,
    ALTER COLUMN reasons DROP NOT NULL,
    ALTER COLUMN proposed_at DROP NOT NULL,
    ADD COLUMN first_useful_at   timestamptz,   -- the first answer 'useful' or 'adopted'
    ADD COLUMN adopted_at        timestamptz,   -- the first answer 'adopted'
    ADD COLUMN feedback_revision integer,       -- of the answer in `feedback`
    ADD COLUMN new_question      text;
CREATE INDEX need_matches_output ON need_matches (output_id);

-- Timeline rows keep the company when their event names it; otherwise it is found
-- through the need or match when read.
ALTER TABLE company_timeline ALTER COLUMN company_org_number DROP NOT NULL;
CREATE INDEX company_timeline_need ON company_timeline (need_id);
CREATE INDEX company_timeline_match ON company_timeline (match_id);
