"""Fixtures for the gitlab-ingestor tests (helpers live in ingestor_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from fyr.db.engine import Database
from tests.integration.ingestor.ingestor_helpers import client_for


@pytest.fixture
async def client(any_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(any_database) as c:
        yield c
