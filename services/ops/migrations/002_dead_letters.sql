-- What the operators' console keeps of redthread.dead-letters.v1 (services/operations): each
-- letter once, with the record it refused, so that its page filters, counts and shows them
-- without reading the whole topic at every refresh.
CREATE TABLE dead_letters (
    dead_letter_id text        PRIMARY KEY,
    failed_at      timestamptz NOT NULL,
    consumer       text        NOT NULL,
    source_topic   text        NOT NULL,
    reason         text        NOT NULL,
    letter         jsonb       NOT NULL  -- the DeadLetterRecord, as its event carried it
);
CREATE INDEX dead_letters_newest ON dead_letters (failed_at DESC);
