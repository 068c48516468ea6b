-- What the projections need to stay commutative beyond 004.

-- A need's or output's content and its closing are separate facts: a withdrawal with
-- revision 3 may be projected before the update with revision 2 (say, in a replay that
-- starts after the update's batch was cut), and must not keep that update's content
-- out. `revision` stays the highest revision seen of anything; `content_revision` is the
-- revision of the content in the row (0: none seen yet).
ALTER TABLE needs ADD COLUMN content_revision integer NOT NULL DEFAULT 0;
ALTER TABLE research_outputs ADD COLUMN content_revision integer NOT NULL DEFAULT 0;

-- Every answer about a match, one row per feedback_id at its highest revision. Several
-- people may answer about one match (the coach, the company); need_matches.feedback is
-- the latest of their answers, recomputed from here, so that the order in which answers
-- arrive cannot change which one is shown. No contact data: the reporter is not kept.
CREATE TABLE feedback_answers (
    feedback_id  uuid PRIMARY KEY,
    match_id     uuid        NOT NULL,
    revision     integer     NOT NULL,
    verdict      text        NOT NULL,
    new_question text,
    answered_at  timestamptz NOT NULL,   -- the time of the event of this revision
    source       text        NOT NULL
);
CREATE INDEX feedback_answers_match ON feedback_answers (match_id);
