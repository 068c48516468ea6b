"""Persons on redthread's own topics travel sealed, each under a key of their own.

A person (contracts.events.Person: a coach, a researcher, whoever answered a match) is
written on the services' topics not as {"name": …, "email": …} but as

    {"sealed": "<person id>.<URL-safe base64 of nonce + AES-256-GCM ciphertext>"}

under that person's key (PersonKeyIssued on redthread.person-keys.v1). Erasing the person
destroys the key (PersonKeyDestroyed), so every copy of what was sealed with it (records
until the topic's retention, dead letters, a replay from the beginning) reads as an
erased person from then on. Which fields hold persons follows from the contracts' types:
a field of type Person, or a list of persons. This module only finds and rewrites those
fields; the keys and the cipher are the services' (services/common/person_keys.py).

Partners never meet this form: the topics they read carry no persons, and what a partner
sends is read in clear.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable
from functools import cache

from contracts.events import Contract, Person

SEALED = "sealed"
# A sealed person's token, as it appears in a record's raw value: the person id comes
# first, so that a consumer finds whose keys a batch needs without parsing it.
TOKEN_IN_RECORD = re.compile(rb'"sealed"\s*:\s*"([0-9a-f]{64})\.')

PersonChange = Callable[[dict], dict]
PersonOpener = Callable[[str], dict]  # a sealed person's token -> the person


class UnreadableSealedPerson(ValueError):
    """A sealed person that cannot be opened, whatever the keys: altered, or not a token."""


@cache
def person_fields(contract: type[Contract]) -> tuple[tuple[str, bool], ...]:
    """(field name, holds a list) for each field of `contract` that holds persons."""
    found = []
    for name, field in contract.model_fields.items():
        kind = _person_kind(field.annotation)
        if kind is not None:
            found.append((name, kind))
    return tuple(found)


def _person_kind(annotation: object) -> bool | None:
    """False for a person (or None), True for a list of persons, None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, Person):
        return False
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is list and arguments:
        return True if _person_kind(arguments[0]) is False else None
    if origin in (typing.Union, types.UnionType):
        kinds = {_person_kind(a) for a in arguments if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def change_persons(contract: type[Contract], data: object, change: PersonChange) -> object:
    """`data` (an event's data as JSON) with each person replaced by change(person)."""
    if not isinstance(data, dict):
        return data  # not an object: validation says what is wrong with it
    changed = dict(data)
    for name, many in person_fields(contract):
        value = data.get(name)
        if value is None or many != isinstance(value, list):
            continue
        changed[name] = [change(person) for person in value] if many else change(value)
    return changed


def has_persons(contract: type[Contract], value: bytes) -> bool:
    """Whether a record's value may hold a person to seal (cheap: no parsing)."""
    return bool(person_fields(contract)) and b'"email"' in value


def is_sealed(person: object) -> bool:
    return isinstance(person, dict) and person.keys() == {SEALED}


def seal_record(contract: type[Contract], value: bytes, seal: PersonChange) -> bytes:
    """A record's value, as contracts.envelope.encode wrote it, with its persons sealed."""
    return sealed_value(contract, json.loads(value), seal)


def sealed_value(contract: type[Contract], data: object, seal: PersonChange) -> bytes:
    """An event's data (JSON, already parsed) as a record's value, its persons sealed."""
    data = change_persons(contract, data, lambda p: p if is_sealed(p) else seal(p))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def persons_in(contract: type[Contract], data: object) -> list[dict]:
    """The persons in clear in an event's data (JSON, already parsed)."""
    found: list[dict] = []

    def collect(person: dict) -> dict:
        if not is_sealed(person):
            found.append(person)
        return person

    change_persons(contract, data, collect)
    return found


def open_record(contract: type[Contract], value: bytes, open_person: PersonOpener) -> object:
    """A record's data as JSON, with its sealed persons opened (persons in clear, as a
    partner sends them, are left as they are). Raises json.JSONDecodeError for a value
    that is not JSON, UnreadableSealedPerson for a token that cannot be opened."""
    return change_persons(contract, json.loads(value), lambda p: open_person(p[SEALED]) if is_sealed(p) else p)


def sealed_person_ids(values: typing.Iterable[bytes | None]) -> set[str]:
    """The person ids of every sealed person in these raw record values."""
    return {match.decode() for value in values if value for match in TOKEN_IN_RECORD.findall(value)}
