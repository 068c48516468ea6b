-- Partners, their API keys and scopes; idempotent HTTP requests; revisions and status of
-- needs and research outputs.

CREATE TABLE partners (
    partner_id          text PRIMARY KEY,
    name                text        NOT NULL,
    event_types         text[]      NOT NULL,        -- which event types it may send
    regions             text[],                      -- Produktionslyftet regions; NULL = any
    org_numbers         text[],                      -- companies; NULL = any
    requests_per_minute integer     NOT NULL DEFAULT 600,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Only a hash of each key is kept. A partner may hold several active keys at once,
-- which is how a key is rotated without downtime: issue the new, switch, revoke the old.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    partner_id  text        NOT NULL REFERENCES partners ON DELETE CASCADE,
    secret_hash bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- The first answer to a request with an Idempotency-Key, replayed for any repeat.
CREATE TABLE idempotent_requests (
    partner_id      text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    bytea       NOT NULL,
    status_code     integer     NOT NULL,
    response        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, idempotency_key)
);

ALTER TABLE needs
    ADD COLUMN revision   integer     NOT NULL DEFAULT 1,
    ADD COLUMN status     text        NOT NULL DEFAULT 'open',
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

ALTER TABLE research_outputs
    ADD COLUMN revision   integer     NOT NULL DEFAULT 1,
    ADD COLUMN status     text        NOT NULL DEFAULT 'published',
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
