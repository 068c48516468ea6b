"""`python -m services.ops flow` (and the operators' page): records written per topic in
slices of the last hour, read from the broker's time index without consuming them."""

from __future__ import annotations

from contracts.topics import ALL_TOPICS, FEEDBACK, NEEDS
from services.ops.flow import SLICES, topic_flow


async def test_records_just_written_count_in_the_last_slice_of_their_topic_only(settings, producer):
    for n in range(3):
        await producer.send_and_wait(settings.topic(NEEDS.name), f"need {n}".encode(), partition=n % 2)
    await producer.send_and_wait(settings.topic(FEEDBACK.name), b"feedback", partition=0)

    slice_s, flows = await topic_flow(settings, minutes=60)
    by_topic = {flow.topic: flow.per_slice for flow in flows}
    assert slice_s == 300
    assert by_topic[NEEDS.name] == (0,) * (SLICES - 1) + (3,)
    assert by_topic[FEEDBACK.name] == (0,) * (SLICES - 1) + (1,)
    assert set(by_topic) >= {topic.name for topic in ALL_TOPICS}  # by registry name: the namespace left out
    assert all(sum(per_slice) == 0 for topic, per_slice in by_topic.items() if topic not in (NEEDS.name, FEEDBACK.name))
