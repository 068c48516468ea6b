-- Read models built from events alone; every write is keyed by the event it came from,
-- so projecting an event twice changes nothing.

-- The red thread: everything that happened around one company, in time order.
CREATE TABLE company_timeline (
    event_id           text PRIMARY KEY,
    company_org_number text        NOT NULL,
    occurred_at        timestamptz NOT NULL,
    kind               text        NOT NULL,
    summary            text        NOT NULL,
    need_id            uuid,
    match_id           uuid,
    source             text        NOT NULL
);
CREATE INDEX company_timeline_company ON company_timeline (company_org_number, occurred_at);

CREATE TABLE needs (
    need_id            uuid PRIMARY KEY,
    company_org_number text,
    title              text        NOT NULL,
    submitted_at       timestamptz NOT NULL
);

CREATE TABLE research_outputs (
    output_id     uuid PRIMARY KEY,
    title         text        NOT NULL,
    project       text        NOT NULL,
    published_at  timestamptz NOT NULL
);

CREATE TABLE need_matches (
    match_id      uuid PRIMARY KEY,
    need_id       uuid        NOT NULL,
    output_id     uuid        NOT NULL,
    output_title  text        NOT NULL,
    score         real        NOT NULL,
    reasons       jsonb       NOT NULL,
    proposed_at   timestamptz NOT NULL,
    notified_at   timestamptz,
    notified_to   text,
    feedback      text
);
CREATE INDEX need_matches_need ON need_matches (need_id);
