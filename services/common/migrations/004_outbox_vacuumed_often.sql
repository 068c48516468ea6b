-- The outbox is a queue: every row is inserted, relayed within moments and deleted, so
-- it holds a few live rows and, between vacuums, every dead one since the last. The
-- relay's scan from the oldest id walks over those dead rows, and new rows go to ever
-- new pages; with the default thresholds (20 % of a near-empty table, checked once a
-- minute) a busy service's outbox grew by 25 MB and 20,000 dead rows a run. Vacuum it
-- as soon as a few thousand rows are dead, without the cost-based pauses.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0
);
