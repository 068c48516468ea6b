"""Operations: the operators' console — the flow per topic, consumer lag, outboxes, dead
letters with their redrive, and what notification owes — as JSON for operators' keys
and as a page at /operations (English and Swedish). It serves in the browser what
`python -m services.ops` does on the command line, with the same functions.

Like those commands it reads Kafka as `admin` and the services' tables in the shared
database. It keeps (schema `operations`) the partners' access, to know its operators;
every dead letter, read from redthread.dead-letters.v1 as it comes, so that its page
filters and counts them without reading the topic again; and the record of redrives."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from contracts.envelope import CloudEvent
from contracts.events import DeadLetterRecord
from contracts.topics import DEAD_LETTERS, PARTNER_ACCESS, partner_topic_owner
from services.common.access import Access, mounted, public
from services.common.kafka_security import ADMIN
from services.common.partner_access import ACCESS_HANDLERS
from services.common.rate_limits import CountedPerAddress
from services.common.consumer import HandlerContext
from services.common.runtime import Service, Subscription
from services.common.settings import Settings
from services.operations.api import CONSOLE_PATH, build_router
from services.ops.dead_letters import Letter, keep_letter
from services.ops.lag import consumer_lag

log = logging.getLogger(__name__)

PAGE_FILES = Path(__file__).parent / "page"
# Every consumer group's lag is read from Kafka at most this often for /metrics, in the
# background: a scrape never waits on the broker for longer than LAG_WAIT_S.
LAG_REFRESH_S = 10.0
LAG_WAIT_S = 1.5
CONSOLE_PAGE = Access("public", "the operators' page and scripts; it asks for an operator's key before it shows anything")


class GroupLag:
    """`redthread_consumer_group_lag_records` and `_seconds` per group, topic and
    partition, as the `lag` command reads them. A partner's own topics count under their
    family's name with the partner left out (`partner.*.needs.v1`): labels never name a
    partner."""

    def __init__(self) -> None:
        self._reading: asyncio.Task | None = None
        self._read_at = float("-inf")

    async def observe(self, service: Service) -> None:
        if (self._reading is None or self._reading.done()) and time.monotonic() - self._read_at >= LAG_REFRESH_S:
            self._read_at = time.monotonic()
            self._reading = asyncio.create_task(self._read(service))
        if self._reading is not None and not self._reading.done():
            await asyncio.wait({self._reading}, timeout=LAG_WAIT_S)

    async def _read(self, service: Service) -> None:
        try:
            rows = await consumer_lag(service.settings)
        except Exception as error:  # noqa: BLE001 - the gauges keep their last values; said once per read
            log.warning("consumer lag not read for /metrics: %s", error)
            return
        records: dict[tuple[str, str, str], int] = {}
        seconds: dict[tuple[str, str, str], float] = {}
        for group, topic, partition, behind, age in rows:
            labels = (group, _topic_label(service.settings, topic), str(partition))
            records[labels] = records.get(labels, 0) + behind
            seconds[labels] = max(seconds.get(labels, 0.0), age or 0.0)
        metrics = service.metrics
        metrics.group_lag_records.clear()
        metrics.group_lag_seconds.clear()
        for labels, behind in records.items():
            metrics.group_lag_records.labels(*labels).set(behind)
            metrics.group_lag_seconds.labels(*labels).set(seconds[labels])


def _topic_label(settings: Settings, topic: str) -> str:
    name = settings.registry_name(topic)
    owner = partner_topic_owner(name)
    if owner is not None and owner[1] is not None:
        return owner[0].name.replace("partner.", "partner.*.", 1)
    return name


async def _keep_dead_letter(context: HandlerContext, event: CloudEvent[DeadLetterRecord]) -> None:
    await keep_letter(context.conn, Letter(event.id, event.data))


HANDLERS = ACCESS_HANDLERS | {DeadLetterRecord.EVENT_TYPE: _keep_dead_letter}


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    if settings.kafka_principal is None:  # redrive writes to any topic, lag reads every group
        settings = settings.model_copy(update={"kafka_principal": ADMIN})
    service = Service(
        "operations",
        package="services.ops",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(Subscription("operations", (PARTNER_ACCESS, DEAD_LETTERS), HANDLERS),),
        http=build_router,
        metrics_observers=(GroupLag().observe,),
    )
    service.http_app.add_api_route(
        "/", lambda: RedirectResponse(CONSOLE_PATH + "/"), methods=["GET"], include_in_schema=False,
        dependencies=[public("leads to the operators' page")],
    )
    page = mounted(CountedPerAddress(StaticFiles(directory=PAGE_FILES, html=True)), CONSOLE_PAGE)
    service.http_app.mount(CONSOLE_PATH, page, name="console")
    return service
