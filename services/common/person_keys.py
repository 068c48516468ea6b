"""Each person's key, and sealing their data with it (contracts.personal_data).

Intake, where persons enter redthread, issues a key the first time it writes a person to
one of the services' topics: 32 random bytes, kept in its person_keys table sealed with
the secrets key (services.common.sealing), and announced on redthread.person-keys.v1 in
the same transaction as the event that needs it, ahead of it. The other services keep
the keys they are sent in their own person_keys table (common migration 009), and every
service seals the persons it writes with them and opens the ones it reads.

Erasure destroys the key everywhere: intake deletes its own and announces
PersonKeyDestroyed, the others delete theirs when they read that. A sealed person whose
key is destroyed opens as an erased person (ERASED_PERSON, what the services' erasure
leaves in their rows too). A sealed person whose key has not arrived yet (the key and the
event travel on different topics) is a transient failure: the batch waits for it, for
KEY_WAIT at most after the event was written; a key that never comes after that is a
dead letter, not a stall.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.envelope import CloudEvent, encode, new_event
from contracts.events import CONTRACTS_BY_TYPE, PersonKeyDestroyed, PersonKeyIssued, person_id
from contracts.personal_data import (
    SEALED, UnreadableSealedPerson, has_persons, persons_in, sealed_person_ids, sealed_value,
)
from contracts.topics import ALL_TOPICS, PERSON_KEYS
from services.common.erasure import remember_erased
from services.common.failures import TransientError
from services.common.outbox import OutboxRow
from services.common.sealing import Sealer, sealer_from
from services.common.settings import Settings

if TYPE_CHECKING:
    from services.common.consumer import HandlerContext

# What an erased person reads as, wherever a person must stand (the SQL function
# erased_person() of common migration 008 says the same).
ERASED_PERSON = {"name": "(raderad)", "email": "raderad@redthread.invalid"}
# How long after an event was written its consumer waits for the key of a person it seals.
KEY_WAIT_S = 600.0

_SEALS_PERSONS = {topic.name for topic in ALL_TOPICS if topic.seals_persons}


class PersonKeyNotYetKnown(TransientError):
    """A sealed person whose key has not reached this service yet: try again shortly."""


class MissingPersonKey(RuntimeError):
    """A person to seal for whom this service holds no key and is not the issuer."""


@dataclass
class Keyring:
    """The keys of the persons one batch is about: id -> AES-GCM, None for the erased."""

    keys: dict[str, AESGCM | None] = field(default_factory=dict)

    def seal(self, person: dict) -> dict:
        whose = person_id(person["email"])
        if whose not in self.keys:
            raise MissingPersonKey(f"no key for person {whose[:12]}…, who reached this service without one")
        key = self.keys[whose]
        if key is None:  # erased since: what stands in their place needs no sealing
            return dict(ERASED_PERSON)
        nonce = secrets.token_bytes(12)
        sealed = key.encrypt(nonce, json.dumps(person, ensure_ascii=False).encode(), whose.encode())
        return {SEALED: f"{whose}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"}

    def open(self, token: str) -> dict:
        whose, _, payload = token.partition(".")
        if whose not in self.keys:
            raise PersonKeyNotYetKnown(f"the key of person {whose[:12]}… has not arrived yet")
        key = self.keys[whose]
        if key is None:
            return dict(ERASED_PERSON)
        try:
            raw = base64.urlsafe_b64decode(payload)
            person = json.loads(key.decrypt(raw[:12], raw[12:], whose.encode()))
        except (InvalidTag, binascii.Error, ValueError):
            raise UnreadableSealedPerson(f"the sealed person {whose[:12]}… is altered or not sealed by redthread") from None
        if not isinstance(person, dict):
            raise UnreadableSealedPerson(f"the sealed person {whose[:12]}… is not a person")
        return person


class PersonKeys:
    """One service's person keys: `issuer` for intake, which makes them."""

    def __init__(self, settings: Settings, *, issuer: bool) -> None:
        self._settings = settings
        self._issuer = issuer
        self._sealer: Sealer | None = None

    @property
    def sealer(self) -> Sealer:
        if self._sealer is None:  # made when first needed: many consumers never meet a person
            self._sealer = sealer_from(self._settings)
        return self._sealer

    async def keyring(self, conn: asyncpg.Connection, persons: Iterable[str]) -> Keyring:
        wanted = sorted(set(persons))
        if not wanted:
            return Keyring()
        rows = await conn.fetch(
            "SELECT w.person_id, k.sealed_key FROM unnest($1::text[]) AS w(person_id)"
            " LEFT JOIN person_keys k USING (person_id)"
            " LEFT JOIN erased_persons e USING (person_id)"
            " WHERE k.person_id IS NOT NULL OR e.person_id IS NOT NULL",
            wanted,
        )
        return Keyring({
            row["person_id"]: None if row["sealed_key"] is None else self._key(row["person_id"], row["sealed_key"])
            for row in rows
        })

    async def keyring_for_records(self, pool: asyncpg.Pool, values: Sequence[bytes | None]) -> Keyring:
        """The keys of every sealed person in these records' values (no query when none is)."""
        persons = sealed_person_ids(values)
        if not persons:
            return Keyring()
        async with pool.acquire() as conn:
            return await self.keyring(conn, persons)

    async def seal_rows(self, conn: asyncpg.Connection, rows: list[OutboxRow]) -> list[OutboxRow]:
        """`rows` with the persons they carry sealed, where their topic seals them; the
        issuer also issues the keys that are missing, announced ahead of the rows."""
        personal = [i for i, row in enumerate(rows) if self._carries_persons(row)]
        if not personal:
            return rows
        contracts = {i: CONTRACTS_BY_TYPE[rows[i].headers["ce_type"]] for i in personal}
        parsed = {i: json.loads(rows[i].value) for i in personal}
        persons = {person_id(person["email"]) for i in personal for person in persons_in(contracts[i], parsed[i])}
        issued: list[OutboxRow] = await self._issue(conn, persons) if self._issuer else []
        keyring = await self.keyring(conn, persons)
        sealed = list(rows)
        for i in personal:
            sealed[i] = replace(rows[i], value=sealed_value(contracts[i], parsed[i], keyring.seal))
        return issued + sealed

    async def _issue(self, conn: asyncpg.Connection, persons: set[str]) -> list[OutboxRow]:
        """Keys for those of `persons` who have none, and their announcements."""
        wanted = sorted(persons)
        drafts = [self.sealer.seal(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(), p) for p in wanted]
        created = await conn.fetch(
            "INSERT INTO person_keys (person_id, sealed_key)"
            " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (person_id) DO NOTHING"
            " RETURNING person_id, sealed_key, issued_at",
            wanted, drafts,
        )
        topic = self._settings.topic(PERSON_KEYS.name)
        rows = []
        for row in created:
            event = new_event(
                PersonKeyIssued(person_id=row["person_id"], key=row["sealed_key"], issued_at=row["issued_at"]),
                source="/redthread/intake", subject=row["person_id"],
            )
            value, headers = encode(event)
            rows.append(OutboxRow(topic, row["person_id"].encode(), value, headers))
        return rows

    def _key(self, whose: str, sealed_key: str) -> AESGCM:
        return AESGCM(base64.urlsafe_b64decode(self.sealer.open(sealed_key, whose)))

    def _carries_persons(self, row: OutboxRow) -> bool:
        contract = CONTRACTS_BY_TYPE.get(row.headers.get("ce_type", ""))
        return (
            contract is not None
            and self._settings.registry_name(row.topic) in _SEALS_PERSONS
            and has_persons(contract, row.value)
        )


def key_has_waited(record_timestamp_ms: int | None) -> bool:
    """Whether a record has waited for a person's key longer than KEY_WAIT_S."""
    return record_timestamp_ms is not None and time.time() - record_timestamp_ms / 1000 > KEY_WAIT_S


async def store_issued_key(conn: asyncpg.Connection, issued: PersonKeyIssued) -> None:
    """What a reader of redthread.person-keys.v1 does with a key: keep it (as sealed as it came)."""
    await conn.execute(
        "INSERT INTO person_keys (person_id, sealed_key, issued_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (person_id) DO UPDATE SET sealed_key = EXCLUDED.sealed_key, issued_at = EXCLUDED.issued_at",
        issued.person_id, issued.key, issued.issued_at,
    )


async def destroy_key(conn: asyncpg.Connection, person: str, destroyed_at: datetime | None = None) -> None:
    """Forget a person's key, and remember them as erased, so that what was sealed with
    it opens as an erased person from now on."""
    await conn.execute("DELETE FROM person_keys WHERE person_id = $1", person)
    await remember_erased(conn, person, destroyed_at or datetime.now(UTC))


async def _keep_key(context: HandlerContext, event: CloudEvent[PersonKeyIssued]) -> None:
    await store_issued_key(context.conn, event.data)


async def _forget_key(context: HandlerContext, event: CloudEvent[PersonKeyDestroyed]) -> None:
    await destroy_key(context.conn, event.data.person_id, event.data.destroyed_at)


# What a reader of redthread.person-keys.v1 does (every service but intake, subscribed by
# services.common.runtime).
KEY_HANDLERS = {PersonKeyIssued.EVENT_TYPE: _keep_key, PersonKeyDestroyed.EVENT_TYPE: _forget_key}
