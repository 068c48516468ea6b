-- What intake has accepted, per aggregate, with the partner that sent it.
CREATE TABLE needs (
    need_id            uuid PRIMARY KEY,
    source             text        NOT NULL,
    company_org_number text,
    data               jsonb       NOT NULL,
    accepted_event_id  text        NOT NULL,
    accepted_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX needs_company ON needs (company_org_number);

CREATE TABLE research_outputs (
    output_id          uuid PRIMARY KEY,
    source             text        NOT NULL,
    data               jsonb       NOT NULL,
    accepted_event_id  text        NOT NULL,
    accepted_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE participations (
    participation_id   uuid PRIMARY KEY,
    source             text        NOT NULL,
    company_org_number text        NOT NULL,
    data               jsonb       NOT NULL,
    accepted_event_id  text        NOT NULL,
    accepted_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE feedback (
    feedback_id        uuid PRIMARY KEY,
    source             text        NOT NULL,
    match_id           uuid        NOT NULL,
    data               jsonb       NOT NULL,
    accepted_event_id  text        NOT NULL,
    accepted_at        timestamptz NOT NULL DEFAULT now()
);
