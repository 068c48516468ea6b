"""Matching: proposes research outputs for company needs, in both directions, each
proposal with a score and the reasons behind it."""

from __future__ import annotations

from contracts.events import MatchProposed
from contracts.topics import MATCHES, NEEDS, RESEARCH_OUTPUTS
from services.common.runtime import Publication, Service, Subscription
from services.common.settings import Settings
from services.matching.handlers import HANDLERS


def build(settings: Settings | None = None) -> Service:
    return Service(
        "matching",
        package="services.matching",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(Subscription("matching", (NEEDS, RESEARCH_OUTPUTS), HANDLERS),),
        publications=(Publication(MATCHES, MatchProposed),),
    )
