"""Persons travel sealed on the services' topics, and an erased person's key opens nothing."""

import json
import secrets

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.envelope import EnvelopeError, decode, encode, new_event
from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    NeedSubmitted,
    ParticipationRecorded,
    PersonErased,
    ResearchOutputPublished,
    person_id,
)
from contracts.personal_data import UnreadableSealedPerson, person_fields, seal_record, sealed_person_ids
from contracts.topics import ALL_TOPICS, DEAD_LETTERS, MATCHES, NEED_FEED, NEEDS, PARTNER_FEEDBACK, PARTNER_NEEDS
from services.common.person_keys import ERASED_PERSON, Keyring, PersonKeyNotYetKnown
from tests.conftest import a_need

COACH = {"name": "Karin Lund", "email": "karin.lund@iuc-example.se"}


def test_every_field_that_holds_persons_is_found_by_its_type():
    assert person_fields(NeedSubmitted) == (("coach", False),)
    assert person_fields(ResearchOutputPublished) == (("contact_researchers", True),)
    assert person_fields(ParticipationRecorded) == (("coaches", True),)
    assert person_fields(MatchProposed) == (("coach", False),)
    assert person_fields(FeedbackSubmitted) == (("reporter", False),)
    assert person_fields(PersonErased) == ()


def test_persons_are_sealed_on_the_services_topics_and_never_on_what_partners_read():
    sealed = {topic.name for topic in ALL_TOPICS if topic.seals_persons}
    assert NEEDS.name in sealed and MATCHES.name in sealed  # written and read by services only
    assert NEED_FEED.name not in sealed and DEAD_LETTERS.name not in sealed  # read by partners, operators
    assert PARTNER_NEEDS.name not in sealed and PARTNER_FEEDBACK.name not in sealed  # partners write in clear


def keyring_with(*people: dict) -> Keyring:
    return Keyring({person_id(p["email"]): AESGCM(secrets.token_bytes(32)) for p in people})


def test_a_sealed_need_holds_no_contact_data_and_opens_to_the_same_need():
    keyring = keyring_with(COACH)
    need = new_event(a_need(coach=COACH), source="/redthread/intake")
    value, headers = encode(need)
    sealed = seal_record(NeedSubmitted, value, keyring.seal)
    assert b"karin" not in sealed.lower() and b"Lund" not in sealed
    assert sealed_person_ids([sealed]) == {person_id(COACH["email"])}
    assert decode(headers, sealed, open_person=keyring.open).data == need.data


def test_an_erased_persons_sealed_data_opens_as_an_erased_person():
    keyring = keyring_with(COACH)
    value, headers = encode(new_event(a_need(coach=COACH), source="/redthread/intake"))
    sealed = seal_record(NeedSubmitted, value, keyring.seal)
    keyring.keys[person_id(COACH["email"])] = None  # the key destroyed
    opened = decode(headers, sealed, open_person=keyring.open).data
    assert opened.coach.model_dump(exclude_none=True) == ERASED_PERSON


def test_a_key_not_yet_arrived_is_waited_for_not_refused():
    value, headers = encode(new_event(a_need(coach=COACH), source="/redthread/intake"))
    sealed = seal_record(NeedSubmitted, value, keyring_with(COACH).seal)
    with pytest.raises(PersonKeyNotYetKnown):
        decode(headers, sealed, open_person=Keyring().open)


def test_altered_or_foreign_sealed_persons_are_refused_with_a_reason():
    keyring = keyring_with(COACH)
    value, headers = encode(new_event(a_need(coach=COACH), source="/redthread/intake"))
    sealed = json.loads(seal_record(NeedSubmitted, value, keyring.seal))
    whose, _, payload = sealed["coach"]["sealed"].partition(".")
    sealed["coach"]["sealed"] = f"{whose}.{payload[:-6]}AAAAAA"
    with pytest.raises(EnvelopeError, match="does not open"):
        decode(headers, json.dumps(sealed).encode(), open_person=keyring.open)
    with pytest.raises(UnreadableSealedPerson):
        keyring.open(f"{whose}.not-base64!")


def test_without_the_keys_a_sealed_person_is_refused_not_read():
    value, headers = encode(new_event(a_need(coach=COACH), source="/redthread/intake"))
    sealed = seal_record(NeedSubmitted, value, keyring_with(COACH).seal)
    with pytest.raises(EnvelopeError, match="sealed persons"):
        decode(headers, sealed)


def test_every_person_in_a_list_is_sealed_under_their_own_key():
    other = {"name": "Ola Nordmann", "email": "ola@sintef-example.no"}
    keyring = keyring_with(COACH, other)
    participation = new_event(
        ParticipationRecorded.model_validate({
            "participation_id": "6f1d2c4e-4a8b-4f7e-9a51-2b7c1d0e9f33",
            "company": {"org_number": "556036-0793", "name": "Gjuteriet AB"},
            "initiative": {"initiative_id": "pl-1", "name": "Produktionslyftet", "owner": "Produktionslyftet"},
            "coaches": [COACH, other],
            "started_on": "2026-01-15",
        }),
        source="/redthread/intake",
    )
    value, headers = encode(participation)
    sealed = seal_record(ParticipationRecorded, value, keyring.seal)
    assert sealed_person_ids([sealed]) == {person_id(COACH["email"]), person_id(other["email"])}
    keyring.keys[person_id(other["email"])] = None
    coaches = decode(headers, sealed, open_person=keyring.open).data.coaches
    assert [c.email for c in coaches] == [COACH["email"], ERASED_PERSON["email"]]
