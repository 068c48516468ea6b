"""Erasure on request, notification's part (contracts.events.PersonErased).

The person is found by person id wherever notification keeps them: as a subscriber, as
a coach told about matches, as the recipient of a message kept for sending or for its
history (with the errors a mail server answered about their address), as whoever got an
answer link or answered through one, as a match's coach, and as the author of feedback
whose comment and question researchers were sent. Nothing more is sent to
them: their pending messages are cancelled, their subscriptions ended, their links gone."""

from __future__ import annotations

import asyncpg

from services.common.erasure import remember_erased

RECIPIENT = "jsonb_build_object('name', '(raderad)', 'language', coalesce(message -> 'recipient' ->> 'language', 'sv'))"

ERASE = {
    "subscriptions": (
        "UPDATE subscriptions SET status = 'unsubscribed', updated_at = now(),"
        " subscriber = jsonb_build_object('name', '(raderad)', 'language', coalesce(subscriber ->> 'language', 'sv'))"
        " WHERE person_id(subscriber ->> 'email') = $1"
    ),
    "deliveries": (
        "UPDATE deliveries SET"
        " status = CASE WHEN status IN ('pending', 'held') THEN 'cancelled' ELSE status END,"
        " recipient_key = 'erased:' || delivery_id, destination = '(raderad)', last_error = NULL,"
        f" message = jsonb_set(message, '{{recipient}}', {RECIPIENT})"
        " WHERE person_id(message -> 'recipient' ->> 'email') = $1"
        " OR (channel = 'email' AND person_id(destination) = $1)"
        " RETURNING delivery_id"
    ),
    "coach_recipients": "DELETE FROM coach_recipients WHERE person_id(email) = $1",
    "answer_links": "DELETE FROM answer_links WHERE person_id(reporter ->> 'email') = $1",
    "answers": (
        "UPDATE answers SET reporter_email = 'erased:' || feedback_id, comment = NULL, new_question = NULL"
        " WHERE person_id(reporter_email) = $1"
    ),
    "known_matches": "UPDATE known_matches SET notice = notice - 'coach' WHERE person_id(notice -> 'coach' ->> 'email') = $1",
    # What they wrote, in the messages and feeds that told researchers of their feedback.
    "feedback_notices": (
        "WITH theirs AS (SELECT feedback_id::text AS id FROM feedback_authors WHERE person_id = $1)"
        " UPDATE deliveries SET message = jsonb_set(message, '{notices}', ("
        "  SELECT jsonb_agg(CASE WHEN n ->> 'feedback_id' IN (SELECT id FROM theirs)"
        "                   THEN n - 'comment' - 'new_question' ELSE n END ORDER BY i)"
        "  FROM jsonb_array_elements(message -> 'notices') WITH ORDINALITY AS e(n, i)))"
        " WHERE EXISTS (SELECT FROM jsonb_array_elements(message -> 'notices') n"
        "               WHERE n ->> 'feedback_id' IN (SELECT id FROM theirs))"
    ),
}


async def erase_person(conn: asyncpg.Connection, person: str) -> dict[str, int]:
    """Remove `person` from notification's tables; returns how many rows of each changed."""
    changed = {}
    for table, statement in ERASE.items():
        if table == "deliveries":
            erased = [row["delivery_id"] for row in await conn.fetch(statement, person)]
            await conn.execute("UPDATE delivery_attempts SET error = NULL WHERE delivery_id = ANY($1::uuid[])", erased)
            changed[table] = len(erased)
        else:
            changed[table] = int((await conn.execute(statement, person)).split()[-1])
    await remember_erased(conn, person)
    return changed
