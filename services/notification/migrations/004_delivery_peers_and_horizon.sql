-- What the dispatcher needs to ride out a peer's outage.
--
-- `peer`: whom a delivery's send depends on, the unit of a circuit breaker: the mail
-- server for every e-mail, the host (and port) of a webhook's URL. Computed here, once,
-- so that the dispatcher's breakers and the statements that hold back or release a
-- peer's deliveries can never disagree about which rows are whose.
ALTER TABLE deliveries ADD COLUMN peer text GENERATED ALWAYS AS (
    CASE channel
        WHEN 'email' THEN 'smtp'
        WHEN 'webhook' THEN lower(substring(destination from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#]*)'))
    END
) STORED;
CREATE INDEX deliveries_pending_by_peer ON deliveries (peer, next_attempt_at) WHERE status = 'pending';

-- `pending_since`: when the delivery last became pending (written, released from a
-- digest hold, resent by an operator). A delivery is retried until the give-up horizon
-- has passed since then, so a resent one gets a whole horizon again. A trigger keeps it,
-- whichever statement makes a row pending.
ALTER TABLE deliveries ADD COLUMN pending_since timestamptz;
UPDATE deliveries SET pending_since = created_at;
ALTER TABLE deliveries ALTER COLUMN pending_since SET DEFAULT now(), ALTER COLUMN pending_since SET NOT NULL;

CREATE FUNCTION deliveries_note_pending_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.pending_since := now();
    RETURN NEW;
END $$;
CREATE TRIGGER deliveries_pending_since BEFORE UPDATE OF status ON deliveries
    FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending')
    EXECUTE FUNCTION deliveries_note_pending_since();
