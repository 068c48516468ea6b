-- The matcher's own copy of what it matches: needs and outputs, reduced to what scoring
-- uses, plus every pair it has proposed (a pair is never proposed twice).
CREATE TABLE needs (
    need_id         uuid PRIMARY KEY,
    data            jsonb   NOT NULL,
    terms           text[]  NOT NULL,
    focus_areas     text[]  NOT NULL,
    min_trl         smallint,
    status          text    NOT NULL DEFAULT 'open'
);
CREATE INDEX needs_terms ON needs USING gin (terms) WHERE status = 'open';

CREATE TABLE research_outputs (
    output_id       uuid PRIMARY KEY,
    data            jsonb   NOT NULL,
    terms           text[]  NOT NULL,
    focus_areas     text[]  NOT NULL,
    trl             smallint NOT NULL
);
CREATE INDEX research_outputs_terms ON research_outputs USING gin (terms);

CREATE TABLE proposed_matches (
    need_id     uuid        NOT NULL,
    output_id   uuid        NOT NULL,
    match_id    uuid        NOT NULL UNIQUE,
    score       real        NOT NULL,
    proposed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (need_id, output_id)
);
