"""Intake builds its canonical events' records directly, without a second validation of
their envelope; they must still be exactly what contracts.envelope makes."""

import uuid
from datetime import UTC, datetime

from contracts.envelope import derived_event_id, encode, new_event
from services.intake.acceptance import (
    _canonical_headers,
    _canonical_id,
    _json_time,
    aggregate_id,
    canonical_json,
    complete,
    same_content,
)
from tests.conftest import a_need


def test_canonical_record_is_what_contracts_encode_makes():
    for partner_event in (
        new_event(a_need(), source="/partners/iuc-syd", subject="anything"),
        new_event(a_need(), source="/partners/coach-tool", caused_by=new_event(a_need(), source="/partners/other")),
    ):
        data = complete(partner_event.data)
        value = canonical_json(data).encode()
        time = datetime.now(UTC)
        headers = _canonical_headers(partner_event, data, "canonical-id", aggregate_id(data), _json_time(time))
        expected = encode(new_event(
            data, source=partner_event.envelope.source, subject=aggregate_id(data), caused_by=partner_event,
            event_id="canonical-id", time=time,
        ))
        assert (value, headers) == expected
        assert list(headers) == list(expected[1])


def test_times_are_written_as_encode_writes_them():
    for time in (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=UTC), datetime.now(UTC)):
        event = new_event(a_need(), source="/partners/iuc-syd", time=time)
        assert _json_time(time) == encode(event)[1]["ce_time"]


def test_canonical_id_is_the_derived_event_id():
    for source, event_id in [("/partners/iuc-syd", str(uuid.uuid4())), ("/partners/å", "x|y"), ("/p", "1")]:
        partner_event = new_event(a_need(), source=source, event_id=event_id)
        assert _canonical_id(partner_event) == derived_event_id("intake", source, event_id)


def test_content_stored_with_its_nulls_is_the_same_as_without():
    need = complete(a_need())
    with_nulls, published = need.model_dump_json(), canonical_json(need)
    assert "null" in with_nulls and "null" not in published
    assert same_content(with_nulls, published)
    assert not same_content(with_nulls, canonical_json(need.model_copy(update={"title": "Another title"})))
