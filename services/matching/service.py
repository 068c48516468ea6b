"""Matching: proposes research outputs for company needs, in both directions, each
proposal with a score and the reasons behind it, and retracts what no longer fits."""

from __future__ import annotations

from contracts.events import MatchProposed
from contracts.topics import ERASURES, FEEDBACK, MATCHES, NEEDS, RESEARCH_OUTPUTS
from services.common.runtime import Publication, Service, Subscription
from services.common.settings import Settings
from services.matching.handlers import Matcher, build_handlers


def build(settings: Settings | None = None) -> Service:
    matcher = Matcher()
    service = Service(
        "matching",
        package="services.matching",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(Subscription("matching", (NEEDS, RESEARCH_OUTPUTS, FEEDBACK, ERASURES), build_handlers(matcher)),),
        publications=(Publication(MATCHES, MatchProposed),),
        on_start=(lambda service: matcher.load(service.pool, service.settings),),
    )
    service.http_app.state.matcher = matcher
    return service
