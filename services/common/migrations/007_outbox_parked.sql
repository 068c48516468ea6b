-- Outbox rows the broker refused for what they are (too large, invalid), moved out of the
-- way with the reason so that they cannot hold back the rows behind them. Nothing sends
-- them again by itself; an operator reads them here.
CREATE TABLE outbox_parked (
    id          bigint      PRIMARY KEY,
    topic       text        NOT NULL,
    key         bytea,
    value       bytea       NOT NULL,
    headers     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    reason      text        NOT NULL
);
