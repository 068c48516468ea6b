-- Operators: partners of the programme office who may read what went out (deliveries,
-- messages sent); see services/common/access.py.
ALTER TABLE partners ADD COLUMN IF NOT EXISTS operator boolean NOT NULL DEFAULT false;
