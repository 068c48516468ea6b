import json
import uuid

import pytest

from contracts.envelope import EnvelopeError, decode, encode, new_event
from contracts.events import FeedbackSubmitted, Person
from tests.conftest import a_need


def test_binary_mode_headers_round_trip():
    event = new_event(a_need(), source="/partners/iuc-jonkoping", subject="s1")
    value, headers = encode(event)

    assert headers["ce_type"] == "redthread.need.submitted"
    assert headers["ce_source"] == "/partners/iuc-jonkoping"
    assert headers["ce_specversion"] == "1.0"
    assert headers["content-type"] == "application/json"
    assert "ce_id" in headers and "ce_time" in headers
    assert json.loads(value)["title"] == event.data.title

    decoded = decode(headers, value)
    assert decoded.data == event.data
    assert decoded.id == event.id


def test_caused_events_inherit_the_correlation_id():
    first = new_event(a_need(), source="/a")
    second = new_event(
        FeedbackSubmitted(
            feedback_id=uuid.uuid4(), match_id=uuid.uuid4(), reporter=Person(name="Eva", email="eva@example.se"),
            verdict="useful",
        ),
        source="/b",
        caused_by=first,
    )
    assert second.correlation_id == first.id
    assert second.envelope.causationid == first.id


def test_the_org_number_is_validated_and_normalised():
    assert a_need().company.org_number == "5560360793"
    with pytest.raises(ValueError, match="Luhn"):
        a_need(company={"org_number": "556036-0794", "name": "X"})


def test_missing_headers_are_named():
    value, headers = encode(new_event(a_need(), source="/a"))
    del headers["ce_source"]
    with pytest.raises(EnvelopeError) as raised:
        decode(headers, value)
    assert ("header ce_source", "Field required") in raised.value.problems


def test_invalid_data_reports_field_paths():
    value, headers = encode(new_event(a_need(), source="/a"))
    payload = json.loads(value)
    payload["company"]["org_number"] = "123"
    payload["surprise"] = 1
    with pytest.raises(EnvelopeError) as raised:
        decode(headers, json.dumps(payload).encode())
    locations = {location for location, _ in raised.value.problems}
    assert {"company.org_number", "surprise"} <= locations


@pytest.mark.parametrize("value", [b"", b"{not json", b"\xff\xfe"])
def test_undecodable_values_are_rejected_with_a_reason(value):
    _, headers = encode(new_event(a_need(), source="/a"))
    with pytest.raises(EnvelopeError, match="value"):
        decode(headers, value)


def test_unknown_event_types_are_rejected():
    value, headers = encode(new_event(a_need(), source="/a"))
    with pytest.raises(EnvelopeError, match="not accepted here"):
        decode(headers | {"ce_type": "redthread.need.teleported"}, value)
    with pytest.raises(EnvelopeError, match="not accepted here"):
        decode(headers, value, accepted_types={"redthread.feedback.submitted"})


def test_every_contract_survives_the_wire_with_its_optional_fields_left_out():
    """encode() leaves out None values, so every nullable field must have a default:
    otherwise an event without, say, a coach cannot be read back by its consumers."""
    from contracts.events import ALL_CONTRACTS
    from contracts.notices import NOTICE_EVENT_CONTRACTS

    for contract in (*ALL_CONTRACTS, *NOTICE_EVENT_CONTRACTS):
        for name, field in contract.model_fields.items():
            nullable = "None" in str(field.annotation)
            assert not (nullable and field.is_required()), f"{contract.__name__}.{name} is nullable but required"
