-- Every message sent about a match; one per match and recipient, so a redelivered
-- match never mails the coach twice.
CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    match_id        uuid        NOT NULL,
    need_id         uuid        NOT NULL,
    channel         text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    dispatched_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (match_id, channel, recipient)
);
