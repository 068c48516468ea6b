"""Intake: the front door. Validates what partners send over HTTP or Kafka, stores it,
and publishes the canonical events every other service reads."""

from __future__ import annotations

from contracts.events import FeedbackSubmitted, NeedSubmitted, ParticipationRecorded, ResearchOutputPublished
from contracts.topics import (
    FEEDBACK,
    NEEDS,
    PARTICIPATIONS,
    PARTNER_FEEDBACK,
    PARTNER_NEEDS,
    PARTNER_PARTICIPATIONS,
    PARTNER_RESEARCH_OUTPUTS,
    RESEARCH_OUTPUTS,
)
from services.common.runtime import Publication, Service, Subscription
from services.common.settings import Settings
from services.intake.acceptance import HANDLERS
from services.intake.http import build_router


def build(settings: Settings | None = None) -> Service:
    return Service(
        "intake",
        package="services.intake",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(
            Subscription(
                "intake",
                (PARTNER_NEEDS, PARTNER_RESEARCH_OUTPUTS, PARTNER_PARTICIPATIONS, PARTNER_FEEDBACK),
                HANDLERS,
            ),
        ),
        publications=(
            Publication(NEEDS, NeedSubmitted),
            Publication(RESEARCH_OUTPUTS, ResearchOutputPublished),
            Publication(PARTICIPATIONS, ParticipationRecorded),
            Publication(FEEDBACK, FeedbackSubmitted),
        ),
        http=build_router,
    )
