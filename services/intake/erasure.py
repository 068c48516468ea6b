"""Erasure on request, intake's part: what intake keeps about a person is removed, and
their key destroyed, in the same transaction that announces PersonErased to the other
services (redthread.erasures.v1) and PersonKeyDestroyed (redthread.person-keys.v1).

A person is found by person id (contracts.events.person_id of their e-mail address)
wherever they stand in what partners sent: a need's coach (removed: a need may have
none), a research output's contact researchers and a participation's coaches (replaced
by erased_person(), as the lists must keep their length), a feedback's reporter
(replaced, with the comment and question they wrote)."""

from __future__ import annotations

import asyncpg

from services.common.person_keys import destroy_key

ERASE = {
    "needs": "UPDATE needs SET data = (data::jsonb - 'coach')::json WHERE person_id(data -> 'coach' ->> 'email') = $1",
    "research_outputs": (
        "UPDATE research_outputs"
        " SET data = jsonb_set(data::jsonb, '{contact_researchers}', without_person(data::jsonb -> 'contact_researchers', $1))::json"
        " WHERE EXISTS (SELECT FROM json_array_elements(data -> 'contact_researchers') p WHERE person_id(p ->> 'email') = $1)"
    ),
    "participations": (
        "UPDATE participations"
        " SET data = jsonb_set(data::jsonb, '{coaches}', without_person(data::jsonb -> 'coaches', $1))::json"
        " WHERE EXISTS (SELECT FROM json_array_elements(data -> 'coaches') p WHERE person_id(p ->> 'email') = $1)"
    ),
    "feedback": (
        "UPDATE feedback SET data = (jsonb_set(data::jsonb, '{reporter}', erased_person()) - 'comment' - 'new_question')::json"
        " WHERE person_id(data -> 'reporter' ->> 'email') = $1"
    ),
}


async def erase_person(conn: asyncpg.Connection, person: str) -> dict[str, int]:
    """Remove `person` from intake's tables; returns how many rows of each changed."""
    changed = {}
    for table, statement in ERASE.items():
        changed[table] = int((await conn.execute(statement, person)).split()[-1])
    await destroy_key(conn, person)
    return changed
