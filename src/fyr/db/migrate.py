"""Alembic, driven from Python: `fyr db upgrade` and the tests use these.

Migrations run over a synchronous driver (pymysql / sqlite3) in a worker thread: Alembic's
operations are synchronous, and a migration is a one-off, not a hot path.
"""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from fyr.db.engine import MIGRATIONS_DIR, head_revision, normalize_url


def sync_url(raw_url: str) -> URL:
    url = normalize_url(raw_url)
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite")
    return url.set(drivername="mysql+pymysql")


def alembic_config(raw_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["sync_url"] = sync_url(raw_url)
    cfg.attributes["configure_logging"] = False
    return cfg


def ensure_database(raw_url: str) -> None:
    """Create the MySQL/MariaDB database named in the URL when it is missing (tests, benches); SQLite: no-op."""
    url = sync_url(raw_url)
    if url.get_backend_name() == "sqlite":
        return
    server = create_engine(url.set(database=""))
    try:
        with server.begin() as conn:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{url.database}` CHARACTER SET utf8mb4"))
    finally:
        server.dispose()


__all__ = ["alembic_config", "downgrade", "ensure_database", "head_revision", "sync_url", "upgrade", "upgrade_async"]


def upgrade(raw_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(raw_url), revision)


def downgrade(raw_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(raw_url), revision)


async def upgrade_async(raw_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, raw_url, revision)
