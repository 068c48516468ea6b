-- Who wants to hear about what, and every message owed to someone.

CREATE TABLE subscriptions (
    subscription_id   uuid PRIMARY KEY,
    partner_id        text        NOT NULL,
    subscriber        jsonb       NOT NULL,  -- Recipient: name, e-mail, language
    about             text        NOT NULL,  -- matches | needs | feedback
    filters           jsonb       NOT NULL,
    channel           text        NOT NULL,  -- email | webhook | atom
    webhook_url       text,
    cadence           text        NOT NULL,  -- immediate | daily | weekly
    status            text        NOT NULL DEFAULT 'active',  -- active | paused | unsubscribed
    unsubscribe_token text        NOT NULL UNIQUE,
    feed_token        text UNIQUE,
    next_digest_at    timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_by_partner ON subscriptions (partner_id);
CREATE INDEX subscriptions_live ON subscriptions (about) WHERE status = 'active';

-- Webhook signing secrets. Several may be valid at once: after a rotation the old secret
-- keeps signing alongside the new one until it expires, so receivers can switch calmly.
CREATE TABLE webhook_secrets (
    subscription_id uuid        NOT NULL REFERENCES subscriptions ON DELETE CASCADE,
    secret          text        NOT NULL,   -- whsec_<base64>; needed in clear to sign
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    PRIMARY KEY (subscription_id, secret)
);

-- One row per message owed to one recipient. UNIQUE (recipient_key, notice_key) is what
-- makes "never the same thing twice to the same recipient" hold across redeliveries.
CREATE TABLE deliveries (
    delivery_id     uuid PRIMARY KEY,        -- also the webhook-id and the e-mail Message-ID
    subscription_id uuid REFERENCES subscriptions ON DELETE SET NULL,
    recipient_key   text        NOT NULL,    -- subscription:<id> or coach:<e-mail>
    notice_key      text        NOT NULL,    -- match:<id>, need:<id>:<revision>, feedback:<id>:<revision>, digest:<period>
    about_id        uuid,                    -- the match, need or feedback it tells of (none for a digest)
    channel         text        NOT NULL,    -- email | webhook | atom
    destination     text        NOT NULL,    -- e-mail address, webhook URL, or the feed
    message         jsonb       NOT NULL,    -- the OutgoingMessage (for a held item: its single notice)
    status          text        NOT NULL,    -- pending | held | digested | delivered | failed | cancelled
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    digest_id       uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (recipient_key, notice_key)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_held ON deliveries (subscription_id) WHERE status = 'held';
CREATE INDEX deliveries_about ON deliveries (about_id);
CREATE INDEX deliveries_of_subscription ON deliveries (subscription_id, created_at DESC);

-- Every attempt at a delivery, as operators and partners see it through the API.
CREATE TABLE delivery_attempts (
    delivery_id  uuid        NOT NULL REFERENCES deliveries ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    outcome      text        NOT NULL,   -- delivered | failed | gave-up
    status_code  integer,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);

-- The matches notification has seen: what feedback refers to, and whom answers concern.
CREATE TABLE known_matches (
    match_id        uuid PRIMARY KEY,
    need_id         uuid NOT NULL,
    output_id       uuid NOT NULL,
    notice          jsonb NOT NULL,   -- the MatchProposed
    retracted       boolean NOT NULL DEFAULT false
);

-- The link in a match message where its recipient answers; the token is the credential.
CREATE TABLE answer_links (
    token           text PRIMARY KEY,
    match_id        uuid        NOT NULL,
    reporter        jsonb       NOT NULL,   -- Person: who got the link
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (match_id, reporter)
);

-- The latest answer per match and reporter; answering again raises the revision.
CREATE TABLE answers (
    match_id     uuid        NOT NULL,
    reporter_email text      NOT NULL,
    feedback_id  uuid        NOT NULL UNIQUE,
    revision     integer     NOT NULL,
    verdict      text        NOT NULL,
    comment      text,
    new_question text,
    answered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (match_id, reporter_email)
);

-- Coaches told about matches without a subscription of their own can still opt out.
CREATE TABLE coach_recipients (
    email             text PRIMARY KEY,
    unsubscribe_token text        NOT NULL UNIQUE,
    unsubscribed_at   timestamptz
);
