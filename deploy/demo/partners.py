"""The demo's partner systems, registered in intake with a fresh API key each run."""

from __future__ import annotations

from contracts.topics import PARTNER_ACCESS
from services.common.db import apply_migrations, create_pool
from services.common.settings import Settings
from services.intake.admin import event_types
from services.intake.partners import Partner, issue_key, save_partner

DEMO_PARTNERS = (
    Partner("iuc-sverige", "IUC Sverige (regional CRM)", event_types("participations,needs,feedback")),
    Partner("produktionslyftet-coach", "Produktionslyftet coachverktyg", event_types("needs,feedback")),
    Partner("produktion2030", "Produktion2030 projektregister", event_types("research-outputs")),
    Partner("rise", "RISE publikationer", event_types("research-outputs")),
    # Readers of reporting: the board sees every figure and every company's red thread
    # (without contact data); the coach sees the red threads of her own companies.
    Partner("produktionslyftet-styrelse", "Produktionslyftets styrelse och programkontor", event_types("none"),
            reporting="board"),
    Partner("coach-anna-lindqvist", "Anna Lindqvist, Produktionslyftet (coach)", event_types("none"),
            org_numbers=frozenset({"5567123483", "5564319076"}), reporting="coach"),
    # The programme office's operations: reads what went out (deliveries, messages sent).
    Partner("programkontoret-drift", "Programkontoret, drift", event_types("none"), operator=True),
)
BOARD_PARTNER = "produktionslyftet-styrelse"
COACH_PARTNER = "coach-anna-lindqvist"
OPERATOR_PARTNER = "programkontoret-drift"


async def provision(settings: Settings, partners: tuple[Partner, ...] = DEMO_PARTNERS) -> dict[str, str]:
    """Register `partners` and return a new API key for each."""
    pool = await create_pool(settings.database_url, "intake", max_size=2)
    try:
        await apply_migrations(pool, "services.common", "services.intake")
        keys = {}
        access_topic = settings.topic(PARTNER_ACCESS.name)
        async with pool.acquire() as conn, conn.transaction():
            for partner in partners:
                await save_partner(conn, partner, access_topic=access_topic)
                keys[partner.partner_id] = await issue_key(conn, partner.partner_id, access_topic=access_topic)
        return keys
    finally:
        await pool.close()
