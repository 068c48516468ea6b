-- Every dead letter an operator sent back to its source topic (python -m services.ops redrive):
-- which letter, as which new event, by whom, and the how-manieth time that record was redriven.
CREATE TABLE redrives (
    dead_letter_id  text        NOT NULL,
    new_event_id    text        NOT NULL,
    source_topic    text        NOT NULL,
    consumer        text        NOT NULL,
    reason          text        NOT NULL,
    redrive_count   integer     NOT NULL,
    redriven_by     text        NOT NULL,
    redriven_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dead_letter_id, redriven_at)
);
