-- Who gave each feedback that notification passes on to researchers (by person id only):
-- their comment and question travel in the messages and feeds it keeps, and an erasure
-- must find them there (services/notification/erasure.py).
CREATE TABLE feedback_authors (
    feedback_id  uuid PRIMARY KEY,
    person_id    text NOT NULL
);
CREATE INDEX feedback_authors_person ON feedback_authors (person_id);
