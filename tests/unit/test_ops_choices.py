"""What the operator's commands and page decide without touching Kafka: which dead letters
a redrive sends, which it holds back and why, and how a topic is named in a metric."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.events import DeadLetterRecord
from services.common.settings import Settings
from services.operations.service import _topic_label
from services.ops.dead_letters import MAX_REDRIVES, Letter, chosen, plan_redrive, reasons
from services.ops.flow import is_redthreads

SETTINGS = Settings(namespace="t1")


def letter(reason: str = "source '/partners/x' is not a registered partner", *, redriven: int = 0,
           cut: bool = False, consumer: str = "intake", topic: str = "t1.partner.needs.v1", minutes_ago: int = 0) -> Letter:
    headers = {"ce_id": "need-1"} | ({"redthread_redrive_count": str(redriven)} if redriven else {})
    return Letter(str(uuid.uuid4()), DeadLetterRecord(
        consumer=consumer, reason=reason, source_topic=topic, source_partition=0, source_offset=7,
        original_headers=headers, original_value="{}", original_value_encoding="utf-8",
        failed_at=datetime.now(UTC) - timedelta(minutes=minutes_ago), original_truncated=cut,
    ))


def test_a_redrive_sends_whole_records_up_to_the_most_asked_for_and_holds_back_the_quarantined_and_the_cut():
    fresh = [letter() for _ in range(3)]
    quarantined = letter(redriven=MAX_REDRIVES)
    cut = letter(cut=True)
    plan = plan_redrive([*fresh, quarantined, cut], most=2)
    assert plan.sendable == fresh[:2] and plan.past_max == 1
    assert plan.quarantined == [quarantined] and plan.cut == [cut]
    forced = plan_redrive([*fresh, quarantined, cut], most=10, force=True)
    assert forced.sendable == [*fresh, quarantined] and forced.quarantined == [] and forced.cut == [cut]


def test_a_redriven_record_keeps_the_original_id_and_names_the_letter_it_came_from():
    first = letter()
    again = letter(redriven=1)
    again.letter.original_headers["ce_id"] = first.redriven_id()
    assert first.redriven_id() == f"need-1~redrive-{first.dead_letter_id.replace('-', '')[:12]}"
    assert again.redriven_id().startswith("need-1~redrive-") and again.redriven_id().count("~redrive-") == 1


def test_filters_and_reasons_count_kinds_not_the_values_that_vary():
    letters = [letter("source '/partners/a' is not a registered partner"),
               letter("source '/partners/b' is not a registered partner", minutes_ago=90),
               letter("the CloudEvents headers are missing or invalid", consumer="matching", topic="t1.redthread.needs.v1")]
    assert reasons(letters) == [("source … is not a registered partner", 2),
                                ("the CloudEvents headers are missing or invalid", 1)]
    assert chosen(letters, SETTINGS, consumer="matching") == letters[2:]
    assert chosen(letters, SETTINGS, source_topic="partner.needs.v1") == letters[:2]
    assert chosen(letters, SETTINGS, reason="REGISTERED", since=datetime.now(UTC) - timedelta(hours=1)) == letters[:1]
    assert chosen(letters, SETTINGS, ids=[letters[1].dead_letter_id[:8]]) == letters[1:2]


def test_the_flow_counts_this_namespaces_registered_and_partners_own_topics_only():
    assert is_redthreads(SETTINGS, "t1.redthread.needs.v1")
    assert is_redthreads(SETTINGS, "t1.partner.iuc-smaland.needs.v1")
    assert not is_redthreads(SETTINGS, "t2.redthread.needs.v1")
    assert not is_redthreads(SETTINGS, "t1.__consumer_offsets")


def test_a_metric_never_names_a_partner_by_its_own_topic():
    assert _topic_label(SETTINGS, "t1.redthread.needs.v1") == "redthread.needs.v1"
    assert _topic_label(SETTINGS, "t1.partner.needs.v1") == "partner.needs.v1"
    assert _topic_label(SETTINGS, "t1.partner.iuc-smaland.needs.v1") == "partner.*.needs.v1"


def test_the_replay_is_one_of_the_operator_commands_with_its_own_arguments(capsys):
    from services.ops.__main__ import main

    with pytest.raises(SystemExit) as shown:
        main(["replay", "--help"])
    assert shown.value.code == 0 and "python -m services.reporting.replay" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["lag", "--into", "x"])  # what only the replay takes is refused elsewhere
    assert refused.value.code == 2 and "unrecognized arguments: --into x" in capsys.readouterr().err
