-- Feedback may be answered again (a higher revision replaces the earlier answer), so its
-- rows are updated like the other aggregates'.
ALTER TABLE feedback ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE participations ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
