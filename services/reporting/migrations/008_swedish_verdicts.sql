-- A feedback in the red thread now reads its verdict in Swedish (projections.VERDICT_WORDS:
-- "Återkoppling från Karin Lindqvist: infört", not "…: adopted"). Timeline rows are
-- written once per event, so the rows projected before keep their English word unless
-- rewritten here — and a replay, which writes the Swedish one, would no longer match them.
UPDATE company_timeline t
SET summary = left(left(t.summary, length(t.summary) - length(w.verdict)) || w.words, 500)
FROM (VALUES ('useful', 'användbart'), ('not-useful', 'inte användbart'), ('adopted', 'infört'),
             ('new-question', 'ny forskningsfråga')) AS w(verdict, words)
WHERE t.kind = 'feedback-submitted' AND t.summary LIKE '%: ' || w.verdict;
