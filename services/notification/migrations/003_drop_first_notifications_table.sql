-- The first version kept sent mails in `notifications`; `deliveries` and
-- `delivery_attempts` hold every message and attempt now.
DROP TABLE IF EXISTS notifications;
