-- A record refused once (dead-lettered) may be sent again under the same source and id
-- once its cause is fixed: `refused` marks such inbox rows, which a later record may
-- claim again. `digest` is a hash of the record handled under the key (its type and
-- value), so that a different event sent under an id already accepted is refused with
-- that reason instead of being taken for a redelivery; for a refused key it is a hash
-- of the refused record's place (topic, partition, offset), so that the same record
-- redelivered is not refused twice. Rows written before this migration have no digest:
-- any record under their key is taken for a redelivery, as before.
ALTER TABLE inbox ADD COLUMN digest bytea, ADD COLUMN refused boolean NOT NULL DEFAULT false;
