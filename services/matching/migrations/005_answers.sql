-- What companies answered about the matches proposed to them (FeedbackSubmitted, latest
-- revision per feedback): an output a company found not useful is not proposed to that
-- company again. No person: who answered is not matching's to keep.
CREATE TABLE answers (
    feedback_id         uuid PRIMARY KEY,
    revision            integer NOT NULL,
    match_id            uuid    NOT NULL,
    output_id           uuid    NOT NULL,
    company_org_number  text,
    verdict             text    NOT NULL,
    reason              text
);
CREATE INDEX answers_by_company ON answers (company_org_number, output_id) WHERE verdict = 'not-useful';
