-- A feedback in the red thread no longer names who gave it ("Återkoppling: infört"): the
-- board reads the timeline, and the person is not the board's to know. Rows projected
-- before are rewritten, so that they read as a replay would write them.
UPDATE company_timeline
SET summary = 'Återkoppling: ' || substring(summary FROM '.*: (.*)$')
WHERE kind = 'feedback-submitted' AND summary LIKE 'Återkoppling från %: %';
