-- Created in every service's schema: the two tables behind "nothing lost, nothing doubled".

-- Events written in the same transaction as the state change that caused them, and
-- relayed to Kafka afterwards; a row is deleted once the broker has acknowledged it.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text        NOT NULL,
    key         bytea,
    value       bytea       NOT NULL,
    headers     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text
);

-- One row per message a consumer has handled (or dead-lettered): a conflict on insert
-- means "already done", which makes redelivery harmless.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    message_key  text        NOT NULL,
    handled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_key)
);
