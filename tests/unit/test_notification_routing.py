"""Who hears about what, and when digests go out: pure functions, no I/O."""

import uuid
from datetime import UTC, datetime

import pytest

from contracts.events import FeedbackSubmitted, MatchProposed, MatchReason
from contracts.notices import Cadence
from services.notification.digests import next_digest_at, period_label
from services.notification.routing import (
    About,
    Audience,
    Filters,
    Scope,
    feedback_notice,
    match_facets,
    match_notice,
    need_facets,
    need_notice,
    wants,
)
from tests.conftest import a_need


def audience(scope: Scope = Scope(), **filters) -> Audience:
    return Audience(uuid.uuid4(), About.needs, Filters(**filters), scope)


def placed(need):
    return need.model_copy(update={"company": need.company.model_copy(update={"region": "Småland", "iuc": "IUC Sjuhärad"})})


def test_every_given_filter_must_hold_and_any_listed_value_will_do():
    need = placed(a_need(focus_areas=["P2"], keywords=["SMED"], min_trl=5, need_type="process"))
    facets = need_facets(need)
    assert wants(audience(), facets)
    assert wants(audience(focus_areas=["P1", "P2"], keywords=["ställtid"], regions=["IUC Sjuhärad"]), facets)
    assert wants(audience(trl_min=3, trl_max=6, need_types=["process"]), facets)
    assert not wants(audience(focus_areas=["P4"]), facets)
    assert not wants(audience(keywords=["robot"]), facets)
    assert not wants(audience(trl_min=6), facets)
    assert not wants(audience(focus_areas=["P2"], need_types=["technology"]), facets)
    assert not wants(audience(languages=["en"]), facets.__class__(**{**facets.__dict__, "language": "sv"}))


def test_a_partners_scope_narrows_what_its_subscriptions_see():
    facets = need_facets(placed(a_need()))
    assert wants(audience(Scope(regions=frozenset({"Småland"}))), facets)
    assert not wants(audience(Scope(regions=frozenset({"Norrland"}))), facets)
    assert not wants(audience(Scope(org_numbers=frozenset({"5565148326"}))), facets)


def test_filters_explain_what_is_wrong():
    with pytest.raises(ValueError, match="trl_min must not exceed trl_max"):
        Filters(trl_min=7, trl_max=3)
    with pytest.raises(ValueError):
        Filters(colour="red")


def test_confidentiality_is_applied_before_anything_leaves():
    public, anonymised, coach_only = (a_need(confidentiality=c) for c in ("public", "anonymised", "coach-only"))
    assert need_notice(public, need_id=public.need_id, revision=1).company.name == public.company.name
    assert need_notice(anonymised, need_id=anonymised.need_id, revision=1).company is None
    assert need_notice(coach_only, need_id=coach_only.need_id, revision=1) is None


def a_match(confidentiality: str) -> MatchProposed:
    need = placed(a_need())
    return MatchProposed(
        match_id=uuid.uuid4(), need_id=need.need_id, output_id=uuid.uuid4(), score=0.6, method="m",
        reasons=[MatchReason(kind="trl", explanation="TRL 7")], need_title=need.title, output_title="SMED-metod",
        output_summary="Kortare ställtider.", company=need.company,
        coach={"name": "Karin", "email": "karin@example.se"}, confidentiality=confidentiality,
    )


def test_a_coach_only_match_reaches_its_coach_and_nobody_else():
    match = a_match("coach-only")
    assert match_notice(match, for_coach=True, answer_url=None).company.name == match.company.name
    assert match_notice(match, for_coach=False, answer_url=None) is None
    anonymised = a_match("anonymised")
    assert match_notice(anonymised, for_coach=True, answer_url=None).company is not None
    assert match_notice(anonymised, for_coach=False, answer_url=None).company is None
    assert match_facets(anonymised).org_number == anonymised.company.org_number  # filters still see it


def test_feedback_on_a_coach_only_need_keeps_the_question_and_drops_the_rest():
    match = a_match("coach-only")
    feedback = FeedbackSubmitted(
        feedback_id=uuid.uuid4(), match_id=match.match_id, reporter={"name": "K", "email": "k@example.se"},
        verdict="new-question", comment="Hos Gjuteri AB i Värnamo …", new_question="Gäller det även pressgjutning?",
    )
    notice = feedback_notice(feedback, match)
    assert notice.new_question == "Gäller det även pressgjutning?"
    assert notice.need_title is None and notice.company is None and notice.comment is None and notice.region is None


def test_digests_go_out_at_seven_local_time_and_weekly_ones_on_mondays():
    # 2026-11-24 is a Tuesday; Stockholm is UTC+1 in November.
    tuesday_noon = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    daily = next_digest_at(Cadence.daily, tuesday_noon, hour=7, timezone="Europe/Stockholm")
    weekly = next_digest_at(Cadence.weekly, tuesday_noon, hour=7, timezone="Europe/Stockholm")
    early = next_digest_at(Cadence.daily, datetime(2026, 11, 24, 5, 0, tzinfo=UTC), hour=7, timezone="Europe/Stockholm")
    assert daily == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert weekly == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert early == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert next_digest_at(Cadence.immediate, tuesday_noon, hour=7, timezone="Europe/Stockholm") is None
    assert period_label(Cadence.daily, daily, timezone="Europe/Stockholm") == "2026-11-24"
    assert period_label(Cadence.weekly, weekly, timezone="Europe/Stockholm") == "2026-W48"
