"""The Slack Web API fake on loopback, one per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.slack_api import SlackFake


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    fake = await SlackFake().start()
    yield fake
    await fake.stop()
