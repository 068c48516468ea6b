-- Each person's key, sealed with the secrets key (services/common/person_keys.py): the
-- key that seals their data on the services' topics. Intake makes them; the other
-- services keep those they are sent. Erasure deletes the row, and with it the last way
-- to open what was sealed with it.
CREATE TABLE person_keys (
    person_id   text PRIMARY KEY,
    sealed_key  text NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now()
);
