-- Summaries that the board's queries (kpis.py) read instead of scanning every match: at
-- 100,000 companies (360,000 matches) time to uptake and reach took one to two seconds.
-- (The labels 'alla', 'övrigt', 'okänd region' and 'okänt projekt' are kpis.py's.)
--
-- Why not keep them with least()/greatest() upserts like the first facts of a match: a
-- match stops counting when it is retracted before anyone was told or answered (kpis.py's
-- rule), and a minimum cannot forget a value. So each summary is defined once, below, as a
-- view over the base rows, and stored: at the end of every projected batch projections.py
-- recomputes, from these views, the stored summaries of every output and need whose base
-- rows the batch may have changed. The base rows come out the same in any order of the
-- events, and so do the summaries recomputed from them (which is what a replay checks).
--
-- A match counts while it stands, or once someone was told of it or answered about it.
-- (White spots ask "is there a standing good match?", hence best_standing_score.)

-- What an output's counted matches reached: funnel, time to uptake and reach.
ALTER TABLE research_outputs
    ADD COLUMN matches           integer     NOT NULL DEFAULT 0,   -- counted matches
    ADD COLUMN useful_matches    integer     NOT NULL DEFAULT 0,   -- of which found useful (or adopted)
    ADD COLUMN adopted_matches   integer     NOT NULL DEFAULT 0,   -- of which adopted
    ADD COLUMN first_matched_at  timestamptz,                      -- earliest proposal
    ADD COLUMN first_notified_at timestamptz,
    ADD COLUMN first_useful_at   timestamptz,
    ADD COLUMN first_adopted_at  timestamptz,
    -- the companies (of the matched needs) told of it, sorted: reach counts them distinct
    -- per project and researcher, which cannot be summed from per-output counts
    ADD COLUMN companies_told    text[]      NOT NULL DEFAULT '{}';

CREATE VIEW computed_output_summaries AS
SELECT o.output_id,
       count(m.match_id)::integer AS matches,
       count(m.first_useful_at)::integer AS useful_matches,
       count(m.adopted_at)::integer AS adopted_matches,
       min(m.proposed_at) AS first_matched_at,
       min(m.notified_at) AS first_notified_at,
       min(m.first_useful_at) AS first_useful_at,
       min(m.adopted_at) AS first_adopted_at,
       coalesce(array_agg(DISTINCT n.company_org_number ORDER BY n.company_org_number)
                FILTER (WHERE m.notified_at IS NOT NULL AND n.company_org_number IS NOT NULL), '{}') AS companies_told
FROM research_outputs o
LEFT JOIN need_matches m
  ON m.output_id = o.output_id
 AND (m.retracted_at IS NULL OR m.notified_at IS NOT NULL OR m.first_useful_at IS NOT NULL OR m.adopted_at IS NOT NULL)
LEFT JOIN needs n ON n.need_id = m.need_id
GROUP BY o.output_id;

-- What a need's matches reached: coverage, white spots and company search.
ALTER TABLE needs
    ADD COLUMN matches             integer NOT NULL DEFAULT 0,   -- counted matches
    ADD COLUMN matches_told        integer NOT NULL DEFAULT 0,   -- of which someone was told
    ADD COLUMN best_standing_score real;                         -- of its matches not retracted

CREATE VIEW computed_need_summaries AS
SELECT n.need_id,
       count(m.match_id) FILTER (
           WHERE m.retracted_at IS NULL OR m.notified_at IS NOT NULL
              OR m.first_useful_at IS NOT NULL OR m.adopted_at IS NOT NULL)::integer AS matches,
       count(m.notified_at)::integer AS matches_told,
       max(m.score) FILTER (WHERE m.retracted_at IS NULL) AS best_standing_score
FROM needs n
LEFT JOIN need_matches m ON m.need_id = n.need_id
GROUP BY n.need_id;

-- The rows the board's time-to-uptake and reach queries aggregate, narrow, so that a
-- query reads a few hundred thousand short rows in index order instead of every match and
-- every output's description. Rows exist for published outputs only (the queries place
-- outputs in the period by published_at), and are made from the output's summary above,
-- which is therefore recomputed first.

-- Time to uptake: per output, and per group it is in, the first time each step was
-- reached, and the days since publication as the board reports them (a step before a
-- backdated publication counts as 0 days; a step not reached is NULL, not 0).
--   'alla'       every published output, matched or not ('alla', kpis.ALL_OUTPUTS)
--   'focus_area' each of the output's strength areas, or 'övrigt' (kpis.NO_FOCUS_AREA)
--   'region'     the region of a need it was matched to (the need's, else its company's,
--                else 'okänd region', kpis.UNKNOWN_REGION), from its first match there
--   'initiative' an initiative (not cancelled) the matched need's company takes part in
-- The firsts of 'region' and 'initiative' come from the group's own counted matches.
CREATE TABLE output_uptake (
    output_id           uuid        NOT NULL,
    grouping            text        NOT NULL,
    grp                 text        NOT NULL,
    published_at        timestamptz NOT NULL,
    first_matched_at    timestamptz,
    first_notified_at   timestamptz,
    first_adopted_at    timestamptz,
    days_to_first_match double precision GENERATED ALWAYS AS (
        CASE WHEN extract(epoch FROM first_matched_at - published_at) < 0 THEN 0
             ELSE extract(epoch FROM first_matched_at - published_at) / 86400 END) STORED,
    days_to_notified    double precision GENERATED ALWAYS AS (
        CASE WHEN extract(epoch FROM first_notified_at - published_at) < 0 THEN 0
             ELSE extract(epoch FROM first_notified_at - published_at) / 86400 END) STORED,
    days_to_adopted     double precision GENERATED ALWAYS AS (
        CASE WHEN extract(epoch FROM first_adopted_at - published_at) < 0 THEN 0
             ELSE extract(epoch FROM first_adopted_at - published_at) / 86400 END) STORED,
    PRIMARY KEY (output_id, grouping, grp)
);
-- In group order, with everything the query reads: no sort, no visit to the table.
CREATE INDEX output_uptake_groups ON output_uptake (grouping, grp, published_at)
    INCLUDE (days_to_first_match, days_to_notified, days_to_adopted);

-- (A company taking part twice in one initiative joins twice: min() does not mind.)
CREATE VIEW computed_output_uptake AS
SELECT o.output_id, 'alla' AS grouping, 'alla' AS grp, o.published_at,
       o.first_matched_at, o.first_notified_at, o.first_adopted_at
FROM research_outputs o
WHERE o.published_at IS NOT NULL
UNION ALL
SELECT o.output_id, 'focus_area', area, o.published_at, o.first_matched_at, o.first_notified_at, o.first_adopted_at
FROM research_outputs o
CROSS JOIN LATERAL unnest(CASE WHEN cardinality(o.focus_areas) = 0 THEN ARRAY['övrigt'] ELSE o.focus_areas END) AS area
WHERE o.published_at IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7   -- an area named twice counts once
UNION ALL
SELECT g.output_id, 'region', g.region, o.published_at, g.first_matched_at, g.first_notified_at, g.first_adopted_at
FROM (
    SELECT m.output_id, coalesce(n.region, c.region, 'okänd region') AS region,
           min(m.proposed_at) AS first_matched_at, min(m.notified_at) AS first_notified_at,
           min(m.adopted_at) AS first_adopted_at
    FROM need_matches m
    LEFT JOIN needs n ON n.need_id = m.need_id
    LEFT JOIN companies c ON c.org_number = n.company_org_number
    WHERE m.retracted_at IS NULL OR m.notified_at IS NOT NULL OR m.first_useful_at IS NOT NULL OR m.adopted_at IS NOT NULL
    GROUP BY 1, 2
) g
JOIN research_outputs o ON o.output_id = g.output_id AND o.published_at IS NOT NULL
UNION ALL
SELECT g.output_id, 'initiative', g.initiative, o.published_at, g.first_matched_at, g.first_notified_at, g.first_adopted_at
FROM (
    SELECT m.output_id, p.initiative,
           min(m.proposed_at) AS first_matched_at, min(m.notified_at) AS first_notified_at,
           min(m.adopted_at) AS first_adopted_at
    FROM need_matches m
    JOIN needs n ON n.need_id = m.need_id
    JOIN participations p ON p.company_org_number = n.company_org_number AND p.status <> 'cancelled'
    WHERE m.retracted_at IS NULL OR m.notified_at IS NOT NULL OR m.first_useful_at IS NOT NULL OR m.adopted_at IS NOT NULL
    GROUP BY 1, 2
) g
JOIN research_outputs o ON o.output_id = g.output_id AND o.published_at IS NOT NULL;

-- Reach: who is credited with each published output — its project ('okänt projekt' when
-- it has none) and each researcher, told apart by name and organisation (an ORCID is not
-- always given), once per output — with the output's figures.
CREATE TABLE output_credits (
    output_id       uuid        NOT NULL,
    credit          text        NOT NULL,   -- 'project' or 'researcher'
    name            text        NOT NULL,
    organisation    text,
    published_at    timestamptz NOT NULL,
    matches         integer     NOT NULL,
    useful_matches  integer     NOT NULL,
    adopted_matches integer     NOT NULL,
    UNIQUE NULLS NOT DISTINCT (output_id, credit, name, organisation)
);
CREATE INDEX output_credits_by_credit ON output_credits (credit, name, organisation)
    INCLUDE (published_at, matches, useful_matches, adopted_matches);

CREATE VIEW computed_output_credits AS
SELECT o.output_id, 'project' AS credit, coalesce(o.project, 'okänt projekt') AS name, NULL::text AS organisation,
       o.published_at, o.matches, o.useful_matches, o.adopted_matches
FROM research_outputs o
WHERE o.published_at IS NOT NULL
UNION ALL
SELECT o.output_id, 'researcher', r.name, r.organisation, o.published_at, o.matches, o.useful_matches, o.adopted_matches
FROM research_outputs o
CROSS JOIN LATERAL (
    SELECT DISTINCT e->>'name' AS name, e->>'organisation' AS organisation
    FROM jsonb_array_elements(o.researchers) AS e WHERE e->>'name' IS NOT NULL
) r
WHERE o.published_at IS NOT NULL;

-- Each credit of an output with each company told of it: "companies told" per project or
-- researcher counts a company once however many of their outputs it was told of, so it
-- cannot be summed from per-output counts; in (credit, company) order the query counts
-- them distinct in one pass.
CREATE TABLE output_credit_companies (
    output_id          uuid        NOT NULL,
    credit             text        NOT NULL,
    name               text        NOT NULL,
    organisation       text,
    company_org_number text        NOT NULL,
    published_at       timestamptz NOT NULL,
    UNIQUE NULLS NOT DISTINCT (output_id, credit, name, organisation, company_org_number)
);
CREATE INDEX output_credit_companies_by_credit
    ON output_credit_companies (credit, name, organisation, company_org_number) INCLUDE (published_at);

CREATE VIEW computed_output_credit_companies AS
SELECT c.output_id, c.credit, c.name, c.organisation, company AS company_org_number, c.published_at
FROM computed_output_credits c
JOIN research_outputs o ON o.output_id = c.output_id
CROSS JOIN LATERAL unnest(o.companies_told) AS company;

-- Backfill: the summaries of everything projected so far.
UPDATE research_outputs o
SET matches = s.matches, useful_matches = s.useful_matches, adopted_matches = s.adopted_matches,
    first_matched_at = s.first_matched_at, first_notified_at = s.first_notified_at,
    first_useful_at = s.first_useful_at, first_adopted_at = s.first_adopted_at, companies_told = s.companies_told
FROM computed_output_summaries s
WHERE s.output_id = o.output_id;

UPDATE needs n
SET matches = s.matches, matches_told = s.matches_told, best_standing_score = s.best_standing_score
FROM computed_need_summaries s
WHERE s.need_id = n.need_id;

INSERT INTO output_uptake (output_id, grouping, grp, published_at, first_matched_at, first_notified_at,
                           first_adopted_at)
SELECT * FROM computed_output_uptake;
INSERT INTO output_credits SELECT * FROM computed_output_credits;
INSERT INTO output_credit_companies SELECT * FROM computed_output_credit_companies;
