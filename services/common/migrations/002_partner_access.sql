-- Partners' scopes and API key hashes, projected from redthread.partner-access.v1 by the
-- services that authenticate partners besides intake (notification, reporting), so that
-- a key works the same everywhere. IF NOT EXISTS: notification's first version created
-- these in its own migration.
CREATE TABLE IF NOT EXISTS partner_access (
    partner_id  text PRIMARY KEY,
    access      jsonb       NOT NULL,   -- the latest PartnerAccessChanged
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS partner_keys (
    key_id      text PRIMARY KEY,
    partner_id  text  NOT NULL REFERENCES partner_access ON DELETE CASCADE,
    secret_hash bytea NOT NULL,
    revoked     boolean NOT NULL DEFAULT false
);
