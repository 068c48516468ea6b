"""Notification: tells a company's coach about research that fits the company's need,
by e-mail, and records every message it sends."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query

from contracts.events import NotificationDispatched
from contracts.topics import MATCHES, NOTIFICATIONS
from services.common.runtime import Publication, Service, Subscription
from services.common.settings import Settings
from services.notification.handlers import HANDLERS


def _routes(service: Service) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["notification"])

    @router.get("/notifications")
    async def list_notifications(match_id: UUID | None = None, limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
        """The messages sent, newest first, optionally for one match."""
        async with service.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT notification_id, match_id, need_id, channel, recipient, subject, dispatched_at"
                " FROM notifications WHERE ($1::uuid IS NULL OR match_id = $1::uuid)"
                " ORDER BY dispatched_at DESC LIMIT $2",
                match_id, limit,
            )
        return [dict(r) for r in rows]

    return router


def build(settings: Settings | None = None) -> Service:
    return Service(
        "notification",
        package="services.notification",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(Subscription("notification", (MATCHES,), HANDLERS),),
        publications=(Publication(NOTIFICATIONS, NotificationDispatched),),
        http=_routes,
    )
