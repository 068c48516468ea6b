-- A relay running in its own process (settings.outbox_relay = "own-process") learns of new
-- rows at once instead of at its next poll: every statement that adds rows to an outbox
-- notifies the channel "<schema>.outbox", delivered when its transaction commits. A
-- transaction sends one notification however many rows and statements it has (PostgreSQL
-- folds identical notifications), and a notification without a listener costs next to
-- nothing.
CREATE FUNCTION outbox_rows_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_rows_added AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_rows_added();
