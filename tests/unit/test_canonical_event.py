"""Intake builds its canonical events without validating their envelope a second time;
they must still be exactly what contracts.envelope.new_event makes."""

from contracts.envelope import encode, new_event
from services.intake.acceptance import _canonical, aggregate_id, complete
from tests.conftest import a_need


def test_canonical_event_is_what_new_event_makes():
    partner_event = new_event(a_need(), source="/partners/iuc-syd", subject="anything")
    data = complete(partner_event.data)
    made = _canonical(partner_event, data, "canonical-id", aggregate_id(data))
    expected = new_event(
        data, source="/partners/iuc-syd", subject=aggregate_id(data), caused_by=partner_event,
        event_id="canonical-id", time=made.envelope.time,
    )
    assert made.envelope == expected.envelope
    assert encode(made) == encode(expected)
