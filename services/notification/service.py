"""Notification: knowledge reaches people where they already are, and their answers flow
back.

- A company's coach hears of research that fits the company's need; IUC advisers and
  partner systems subscribe to matches for their companies; researchers subscribe to the
  need feed for their areas, and to what companies say about their results.
- Channels: e-mail (sv/no/en, text and HTML), webhooks signed per Standard Webhooks,
  Atom feeds, and the need feed as a Kafka topic. Immediately, or as daily or weekly
  digests. Never the same thing twice to the same recipient.
- Every match message links to a page where the coach or the company answers (useful,
  not useful, adopted, a new research question); the answer becomes feedback.
"""

from __future__ import annotations

from contracts.events import FeedbackSubmitted, NotificationDispatched
from contracts.notices import NeedNotice
from contracts.topics import FEEDBACK, MATCHES, NEED_FEED, NEEDS, NOTIFICATIONS, PARTNER_ACCESS, PARTNER_FEEDBACK
from services.common.runtime import Publication, Service, Subscription
from services.common.settings import Settings
from services.notification.api import build_router
from services.notification.delivery import DeliveryDispatcher
from services.notification.digests import DigestScheduler
from services.notification.handlers import ROUTES, route_batch


def build(settings: Settings | None = None) -> Service:
    workers: dict[str, object] = {}

    async def start_workers(service: Service) -> None:
        dispatcher = DeliveryDispatcher(
            service.pool, service.settings, service.name, on_commit=lambda: service.wake_relay()
        )
        digests = DigestScheduler(service.pool, service.settings, on_composed=dispatcher.wake)
        await dispatcher.start()
        await digests.start()
        service.commit_listeners.append(dispatcher.wake)
        workers.update(dispatcher=dispatcher, digests=digests)
        service.http_app.state.dispatcher = dispatcher

    async def stop_workers(_service: Service) -> None:
        for worker in (workers.get("digests"), workers.get("dispatcher")):
            if worker is not None:
                await worker.stop()

    return Service(
        "notification",
        package="services.notification",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(
            Subscription(
                "notification",
                (MATCHES, NEEDS, FEEDBACK, PARTNER_ACCESS),
                batch_handler=route_batch,
                batch_types=frozenset(ROUTES),
            ),
        ),
        publications=(
            Publication(NOTIFICATIONS, NotificationDispatched),
            Publication(NEED_FEED, NeedNotice),
            Publication(PARTNER_FEEDBACK, FeedbackSubmitted),
        ),
        http=build_router,
        on_start=(start_workers,),
        on_stop=(stop_workers,),
    )
