-- What a partner may see in reporting: 'board' or 'coach' (NULL: nothing).
ALTER TABLE partners ADD COLUMN reporting_role text CHECK (reporting_role IN ('board', 'coach'));
