"""The fault suite's checker (tests/faults/checker.py): lost and duplicated effects."""

from __future__ import annotations

from tests.faults.checker import Delivery, Match, Observation, Received, TimelineRow, check

HOOK = "/hooks/matches"


def complete(need: str = "n1", match: str = "m1", output: str = "o1") -> Observation:
    """Everything one acknowledged need should cause: reported, matched, mailed, called."""
    return Observation(
        reporting_needs={need},
        matches=[Match(match, need, output)],
        reporting_matches=[Match(match, need, output)],
        timeline=[
            TimelineRow(f"e-{need}", "need-submitted", need, None),
            TimelineRow(f"e-{match}", "match-proposed", need, match),
            TimelineRow(f"t-{match}-mail", "notification-dispatched", need, match, "email"),
            TimelineRow(f"t-{match}-hook", "notification-dispatched", need, match, "webhook"),
        ],
        deliveries=[
            Delivery(f"d-{match}-mail", match, "coach:karin@example.se", "email"),
            Delivery(f"d-{match}-hook", match, "subscription:s1", "webhook"),
        ],
        emails=[Received(f"d-{match}-mail", "karin@example.se")],
        webhooks=[Received(f"d-{match}-hook", HOOK)],
    )


def test_everything_there_once_is_clean():
    verdict = check({"n1"}, {"n1"}, complete(), webhook_receivers=[HOOK])
    assert verdict.lost_count == 0 and verdict.duplicated_count == 0
    assert verdict.effects == {"matches": 1, "e-mails": 1, "webhook calls": 1}


def test_an_acknowledged_need_missing_from_reporting_is_lost():
    seen = complete()
    seen.reporting_needs.clear()
    verdict = check({"n1"}, {"n1"}, seen, webhook_receivers=[HOOK])
    assert verdict.lost["need-not-in-reporting"] == ["n1"]


def test_a_need_without_its_timeline_row_is_lost():
    seen = complete()
    seen.timeline = [row for row in seen.timeline if row.kind != "need-submitted"]
    assert check({"n1"}, {"n1"}, seen).lost["need-not-in-reporting"] == ["n1"]


def test_a_need_that_should_match_but_did_not_is_lost():
    seen = Observation(reporting_needs={"n1"}, timeline=[TimelineRow("e", "need-submitted", "n1", None)])
    verdict = check({"n1"}, {"n1"}, seen)
    assert verdict.lost["need-not-matched"] == ["n1"]
    assert check({"n1"}, set(), seen).lost_count == 0  # not built to match: nothing owed


def test_a_match_without_its_email_or_webhook_is_lost():
    seen = complete()
    seen.emails.clear()
    seen.webhooks.clear()
    verdict = check({"n1"}, {"n1"}, seen, webhook_receivers=[HOOK, "/hooks/other"])
    assert verdict.lost["match-without-email"] == ["m1"]
    assert verdict.lost["match-without-webhook"] == ["m1/hooks/matches", "m1/hooks/other"]


def test_a_message_without_its_notification_on_the_timeline_is_lost():
    seen = complete()
    seen.timeline = [row for row in seen.timeline if row.channel != "webhook"]
    assert check({"n1"}, {"n1"}, seen, webhook_receivers=[HOOK]).lost["notification-not-in-reporting"] == ["m1/webhook"]


def test_a_match_missing_from_reporting_is_lost():
    seen = complete()
    seen.reporting_matches.clear()
    assert check({"n1"}, {"n1"}, seen).lost["match-not-in-reporting"] == ["m1"]


def test_the_same_email_twice_is_a_duplicate_and_so_is_a_second_message_id():
    seen = complete()
    seen.emails.append(Received("d-m1-mail", "Karin@example.se"))
    assert check({"n1"}, {"n1"}, seen).duplicated["email"] == [str(("m1", "karin@example.se"))]
    seen = complete()
    seen.deliveries.append(Delivery("d-other", "m1", "coach:karin@example.se", "email"))
    seen.emails.append(Received("d-other", "karin@example.se"))
    assert len(check({"n1"}, {"n1"}, seen).duplicated["email"]) == 1


def test_a_webhook_resent_under_its_id_is_counted_apart_from_duplicates():
    seen = complete()
    seen.webhooks.append(Received("d-m1-hook", HOOK))
    verdict = check({"n1"}, {"n1"}, seen, webhook_receivers=[HOOK])
    assert verdict.duplicated["webhook"] == [] and verdict.webhook_resent == 1
    seen.deliveries.append(Delivery("d-m1-hook2", "m1", "subscription:s1", "webhook"))
    seen.webhooks.append(Received("d-m1-hook2", HOOK))
    assert len(check({"n1"}, {"n1"}, seen, webhook_receivers=[HOOK]).duplicated["webhook"]) == 1


def test_two_timeline_rows_for_one_fact_are_a_duplicate():
    seen = complete()
    seen.timeline.append(TimelineRow("e-again", "need-submitted", "n1", None))
    seen.timeline.append(TimelineRow("t-again", "notification-dispatched", "n1", "m1", "email"))
    assert len(check({"n1"}, {"n1"}, seen).duplicated["timeline"]) == 2


def test_one_pair_proposed_under_two_match_ids_is_a_duplicate():
    seen = complete()
    seen.reporting_matches.append(Match("m2", "n1", "o1"))
    assert check({"n1"}, {"n1"}, seen).duplicated["match"] == ["n1/o1"]


def test_effects_of_other_workloads_are_not_counted():
    seen = complete()
    other = complete("n2", "m2")
    seen.matches += other.matches
    seen.timeline += other.timeline + [TimelineRow("again", "need-submitted", "n2", None)]
    seen.deliveries += other.deliveries
    seen.emails += other.emails + other.emails
    verdict = check({"n1"}, {"n1"}, seen, webhook_receivers=[HOOK])
    assert verdict.lost_count == 0 and verdict.duplicated_count == 0


def test_duplicates_can_be_allowed_per_kind():
    seen = complete()
    seen.emails.append(seen.emails[0])
    verdict = check({"n1"}, {"n1"}, seen)
    assert verdict.duplicates_beyond({"email": 16}) == 0
    assert verdict.duplicates_beyond({}) == 1


def test_a_hostile_record_needs_a_dead_letter_or_its_acceptance():
    from tests.faults.checker import unanswered

    records = [
        ("poison", "partner.needs.v1", 0, 7, None, None),
        ("corrected", "partner.needs.v1", 0, 8, "n-fixed", None),
        ("same id, other need", "partner.needs.v1", 0, 9, None, "n-other"),
    ]
    assert unanswered(records, {("partner.needs.v1", 0, 7), ("partner.needs.v1", 0, 9)}, {"n-fixed"}) == []
    assert unanswered(records, {("partner.needs.v1", 0, 8)}, {"n-other"}) == ["poison @0/7", "corrected @0/8"]


def test_one_notification_row_per_recipient_is_not_a_duplicate():
    seen = complete()
    seen.deliveries.append(Delivery("d-m1-hook2", "m1", "subscription:s2", "webhook"))
    seen.webhooks.append(Received("d-m1-hook2", "/hooks/other"))
    seen.timeline.append(TimelineRow("t-m1-hook2", "notification-dispatched", "n1", "m1", "webhook"))
    verdict = check({"n1"}, {"n1"}, seen, webhook_receivers=[HOOK, "/hooks/other"])
    assert verdict.lost_count == 0 and verdict.duplicated_count == 0
    seen.timeline.append(TimelineRow("t-m1-hook3", "notification-dispatched", "n1", "m1", "webhook"))
    assert len(check({"n1"}, {"n1"}, seen).duplicated["timeline"]) == 1
