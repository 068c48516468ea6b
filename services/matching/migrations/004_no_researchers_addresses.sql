-- Matching reads an output's text, not who wrote it: the contact researchers (names and
-- e-mail addresses) are no longer kept here (handlers.match_output), nor what was kept.
UPDATE research_outputs SET data = data - 'contact_researchers' WHERE data ? 'contact_researchers';
