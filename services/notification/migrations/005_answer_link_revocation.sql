-- An answer link can be revoked (python -m services.ops links revoke); it also expires
-- REDTHREAD_ANSWER_LINK_TTL_DAYS after it was made.
ALTER TABLE answer_links ADD COLUMN IF NOT EXISTS revoked_at timestamptz;
