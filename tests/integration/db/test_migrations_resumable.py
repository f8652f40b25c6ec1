"""A migration stopped after any step is completed by the next `fyr db upgrade`.

On MariaDB DDL commits on its own, so a migration killed midway (an evicted Job) keeps the tables
it created while `alembic_version` still names the previous revision. The test stops the upgrade
after step k, for every k, and then upgrades again: it must succeed and leave exactly the schema
the models describe. SQLite runs the same steps inside one transaction.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from fyr.db.migrate import ensure_database, head_revision, sync_url, upgrade
from fyr.migrations import steps
from tests.conftest import require_mysql_url
from tests.integration.db.test_migrations import _diff

pytestmark = pytest.mark.timeout(300)


class Stop(Exception):
    """Stands for the process being killed after a step."""


def _fresh(backend: str, tmp_path: Path, k: int) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'resume-{k}.db'}"
    url = make_url(require_mysql_url())
    url = url.set(database=f"{url.database}_resume")
    raw = url.render_as_string(hide_password=False)
    server = create_engine(sync_url(raw).set(database=""))
    with server.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{url.database}`"))
    server.dispose()
    ensure_database(raw)
    return raw


def _version(url: str) -> str | None:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            return str(row[0]) if row else None
    finally:
        engine.dispose()


def _all_steps(backend: str, tmp_path: Path) -> list[str]:
    names: list[str] = []
    with steps.hooked(names.append):
        upgrade(_fresh(backend, tmp_path, -1))
    return names


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_upgrade_stopped_after_every_step_is_completed_by_the_next_upgrade(backend: str, tmp_path: Path) -> None:
    names = _all_steps(backend, tmp_path)
    assert len(names) >= 19 and any(n.startswith("create_index idx_rollouts_updated") for n in names)
    for k in range(len(names)):
        url = _fresh(backend, tmp_path, k)

        def stop_after(name: str, k: int = k, seen: list[str] = []) -> None:  # noqa: B006 - per-k counter
            seen.append(name)
            if len(seen) == k + 1:
                raise Stop(name)

        with steps.hooked(stop_after), pytest.raises(Stop):
            upgrade(url)
        assert _version(url) != head_revision(), f"stopped after {names[k]!r} yet at head"
        upgrade(url)  # the next run finishes the half-applied revision
        assert _version(url) == head_revision(), f"stopped after {names[k]!r}"
        assert _diff(url) == [], f"stopped after {names[k]!r}: schema differs from the models"


def test_first_migration_half_applied_the_way_an_eviction_leaves_it_on_mariadb(tmp_path: Path) -> None:
    """The reported state: 5 of 6 tables and an empty alembic_version; `fyr db upgrade` used to fail."""
    url = _fresh("mysql", tmp_path, 0)
    upgrade(url)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE webhook_deliveries"))
        conn.execute(text("DELETE FROM alembic_version"))
    engine.dispose()
    upgrade(url)
    assert _version(url) == head_revision() and _diff(url) == []


def _table_count(url: str) -> int:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM information_schema.tables "
                                         "WHERE table_schema = DATABASE()")).scalar_one())
    finally:
        engine.dispose()


def test_fyr_db_upgrade_killed_with_sigkill_midway_then_rerun_succeeds(tmp_path: Path) -> None:
    """A real SIGKILL of the `fyr db upgrade` process once it has created n tables, on MariaDB."""
    killed_midway = 0
    for tables in (1, 3, 5):
        url = _fresh("mysql", tmp_path, 0)
        env = {**os.environ, "DATABASE_URL": url}
        proc = subprocess.Popen([sys.executable, "-m", "fyr", "db", "upgrade"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and _table_count(url) < tables and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_midway += _version(url) != head_revision()
        proc.wait(30)
        done = subprocess.run([sys.executable, "-m", "fyr", "db", "upgrade"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert _version(url) == head_revision() and _diff(url) == []
    assert killed_midway >= 1, "no kill landed midway: the test proved nothing"
