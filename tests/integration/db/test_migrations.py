"""Migrations: up, down, up again on SQLite and MariaDB; the models and the migrations agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from fyr.db.engine import Database
from fyr.db.migrate import downgrade, head_revision, sync_url, upgrade
from fyr.errors import SchemaOutdated
from fyr.models.tables import Base
from tests.conftest import prepare_mysql, require_mysql_url


def _url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    url = require_mysql_url()
    prepare_mysql(url)
    return url


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _diff(url: str) -> list[object]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_upgrade_downgrade_upgrade_round_trip(backend: str, tmp_path: Path) -> None:
    url = _url(backend, tmp_path)
    upgrade(url)
    assert {"rollouts", "analyses", "analysis_metrics", "gitlab_metadata"} <= _tables(url)
    downgrade(url, "base")
    assert _tables(url) <= {"alembic_version"}
    upgrade(url)
    assert "rollouts" in _tables(url)


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_autogenerate_finds_no_difference_between_models_and_migrations(backend: str, tmp_path: Path) -> None:
    url = _url(backend, tmp_path)
    upgrade(url)
    assert _diff(url) == []


async def test_services_refuse_a_schema_that_is_behind(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    db = Database.from_url(url)
    try:
        with pytest.raises(SchemaOutdated, match="run `fyr db upgrade`"):
            await db.check_schema()
        upgrade(url)
        await db.check_schema()
        assert await db.current_revision() == head_revision()
    finally:
        await db.dispose()
