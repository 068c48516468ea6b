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

import logging

from contracts.events import FeedbackSubmitted, NotificationDispatched
from contracts.notices import NeedNotice
from contracts.topics import ERASURES, FEEDBACK, MATCHES, NEED_FEED, NEEDS, NOTIFICATIONS, PARTNER_ACCESS, PARTNER_FEEDBACK
from services.common.runtime import Publication, Service, Subscription
from services.common.sealing import sealer_from
from services.common.settings import Settings
from services.notification.api import build_router
from services.notification.delivery import DeliveryDispatcher
from services.notification.digests import DigestScheduler
from services.notification.follow_ups import follow_up_worker
from services.notification.handlers import ROUTES, route_batch
from services.notification.signing import WebhookSecrets

log = logging.getLogger(__name__)


def build(settings: Settings | None = None) -> Service:
    workers: dict[str, object] = {}

    async def start_workers(service: Service) -> None:
        if sealed := await WebhookSecrets(sealer_from(service.settings)).seal_clear_ones(service.pool):
            log.info("sealed %d webhook secrets that were stored in clear", sealed)
        dispatcher = DeliveryDispatcher(
            service.pool, service.settings, service.name, on_commit=lambda: service.wake_relay(),
            on_delivered=lambda channel, seconds: service.metrics.delivery_seconds.labels(channel).observe(seconds),
        )
        digests = DigestScheduler(service.pool, service.settings, on_composed=dispatcher.wake)
        follow_ups = follow_up_worker(service.pool, service.settings, on_owed=dispatcher.wake)
        await dispatcher.start()
        await digests.start()
        follow_ups.start()
        service.commit_listeners.append(dispatcher.wake)
        workers.update(dispatcher=dispatcher, digests=digests, follow_ups=follow_ups)
        service.http_app.state.dispatcher = dispatcher

    async def delivery_health(service: Service) -> dict[str, str | None]:
        dispatcher = workers.get("dispatcher")
        if dispatcher is None:
            return {"deliveries": "the dispatcher has not started"}
        return delivery_findings(await dispatcher.health(), service.settings.health_stall_s)

    async def delivery_metrics(service: Service) -> None:
        dispatcher = workers.get("dispatcher")
        if dispatcher is None:
            return
        report = await dispatcher.health()
        service.metrics.peers_unreachable.set(len(report["open_breakers"]))
        if isinstance(report["channels"], dict):
            for channel, stats in report["channels"].items():
                service.metrics.deliveries_owed.labels(channel).set(stats["pending"])
                service.metrics.deliveries_oldest_due.labels(channel).set(stats["oldest_due_s"] or 0)

    async def stop_workers(_service: Service) -> None:
        for worker in (workers.get("follow_ups"), workers.get("digests"), workers.get("dispatcher")):
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
                (MATCHES, NEEDS, FEEDBACK, PARTNER_ACCESS, ERASURES),
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
        health_checks=(delivery_health,),
        metrics_observers=(delivery_metrics,),
    )


def delivery_findings(report: dict, stall_s: float) -> dict[str, str | None]:
    """The dispatcher's report (DeliveryDispatcher.health) as /health findings: a peer
    held back by an open circuit breaker, deliveries due for longer than `stall_s`, a
    worker failing for longer; None for each part that is fine."""
    findings: dict[str, str | None] = {"deliveries": None}
    for breaker in report["open_breakers"]:
        findings[f"peer {breaker['peer']}"] = (
            f"unreachable since {breaker['since']} ({breaker['reason']}); its deliveries wait, next try at"
            f" {breaker['next_probe_at']}"
        )
    channels = report["channels"]
    if isinstance(channels, str):
        findings["deliveries"] = channels
    else:
        late = [
            f"{stats['due']} {channel} deliveries due, the oldest for {stats['oldest_due_s']:.0f}s"
            for channel, stats in channels.items()
            if stats["oldest_due_s"] is not None and stats["oldest_due_s"] > stall_s
        ]
        findings["deliveries"] = "; ".join(late) or None
    for name in ("claiming", "recording"):
        worker = report[name]
        if worker["failing_for_s"] is not None and worker["failing_for_s"] > stall_s:
            findings[f"deliveries {name}"] = f"failing for {worker['failing_for_s']:.0f}s: {worker['last_error']}"
    return findings
