"""Two intake transactions creating the same aggregate at once (two instances, or the
same need sent on two partitions): the second must not lose the event nor dead-letter
it, but fail transiently, so that its batch is decided again once the first is visible."""

from __future__ import annotations

import asyncio

import pytest

from contracts.envelope import new_event
from services.common.consumer import BatchContext, TransientError
from services.common.db import apply_migrations, create_pool
from services.intake.acceptance import Effect, accept_batch
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.conftest import a_need


PARTNER = Partner("iuc-syd", "IUC Syd", event_types("all"))


async def test_the_second_creator_retries_instead_of_failing_the_event(settings):
    pool = await create_pool(settings.database_url, "intake")
    try:
        await apply_migrations(pool, "services.common", "services.intake")
        need = a_need()
        first, second = new_event(need, source=PARTNER.source), new_event(need, source=PARTNER.source)
        async with pool.acquire() as one, pool.acquire() as other:
            async with one.transaction():
                [created] = await accept_batch(BatchContext(one, settings), [(PARTNER, first)])
                assert created.effect is Effect.ACCEPTED
                racing = other.transaction()
                await racing.start()
                # Blocks on the first transaction's uncommitted row, until it commits.
                attempt = asyncio.ensure_future(accept_batch(BatchContext(other, settings), [(PARTNER, second)]))
                await asyncio.sleep(0.3)
                assert not attempt.done()
            with pytest.raises(TransientError, match="created concurrently"):
                await attempt
            await racing.rollback()
            # Decided again, the same content is what is stored: unchanged, the first event's result.
            async with other.transaction():
                [again] = await accept_batch(BatchContext(other, settings), [(PARTNER, second)])
            assert again.effect is Effect.UNCHANGED and again.event_id == created.event_id
            assert await one.fetchval("SELECT count(*) FROM needs WHERE need_id = $1", need.need_id) == 1
    finally:
        await pool.close()
