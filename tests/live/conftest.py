"""Fixtures of the webhook delivery tests: fast settings and a receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from loomworks.platform.settings import Settings
from tests.fixtures.receiver import Receiver


@pytest.fixture
def fast(database_url: str) -> Settings:
    """Short retries and polls, and loopback receivers allowed."""
    return Settings(
        database_url=database_url,
        db_pool_size=2,
        webhook_allow_private=True,
        webhook_retry_base_seconds=0.2,
        webhook_poll_seconds=0.05,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()
