"""Shared fixtures: databases migrated through the real Alembic migrations.

`database` is a fresh SQLite file per test. `mysql_database` runs against FYR_TEST_MYSQL_URL
(MariaDB in CI): skipped when the variable is unset, a hard failure when it is set but the server
does not answer (docs/architecture.md 'Tests').
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fyr.db.engine import Database
from fyr.db.migrate import ensure_database, sync_url, upgrade

MYSQL_ENV = "FYR_TEST_MYSQL_URL"
TASK_GRACE_SECONDS = 1.0  # how long a test's tasks may take to finish after the test returned
TABLES = ("analysis_flights", "analysis_metrics", "analyses", "webhook_deliveries", "gitlab_metadata", "rollouts",
          "rollout_actions", "workload_mutes")


def mysql_url() -> str | None:
    """The MariaDB URL for this test process: one database per xdist worker, so workers never collide."""
    raw = os.environ.get(MYSQL_ENV) or None
    if raw is None:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return raw
    url = make_url(raw)
    return url.set(database=f"{url.database or 'test'}_{worker}").render_as_string(hide_password=False)


def require_mysql_url() -> str:
    url = mysql_url()
    if url is None:
        pytest.skip(f"{MYSQL_ENV} is not set (CI sets it; MariaDB tests run there)")
    return url


_migrated: set[str] = set()


def prepare_mysql(url: str) -> None:
    """Migrate once per session, then empty the tables; fail loudly when the server is unreachable."""
    if url not in _migrated:
        ensure_database(url)
        upgrade(url)
        _migrated.add(url)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fyr.db'}"
    upgrade(url)
    return url


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database.from_url(sqlite_url)
    yield db
    await db.dispose()


@pytest.fixture
def mysql_test_url() -> str:
    url = require_mysql_url()
    prepare_mysql(url)
    return url


@pytest.fixture
async def mysql_database(mysql_test_url: str) -> AsyncIterator[Database]:
    db = Database.from_url(mysql_test_url, pool_size=20)
    yield db
    await db.dispose()


@pytest.fixture(params=["sqlite", "mysql"])
async def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """Both backends: the MySQL variant skips without FYR_TEST_MYSQL_URL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fyr.db'}"
        await asyncio.to_thread(upgrade, url)
    else:
        url = require_mysql_url()
        await asyncio.to_thread(prepare_mysql, url)
    db = Database.from_url(url, pool_size=20)
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
def demo_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite database `fyr demo --keep DIR` leaves behind, made once per test process.

    Tests copy it (`shutil.copy`) before writing to it."""
    import subprocess
    import sys

    keep = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FYR_", "SLACK_", "OPENAI_", "GITLAB_")) and k not in ("DATABASE_URL", "MYSQL_URL")}
    res = subprocess.run([sys.executable, "-m", "fyr", "demo", "--keep", str(keep)], capture_output=True, text=True,
                         env=env, cwd=keep, timeout=240)
    assert res.returncode in (0, 1), res.stderr[-2000:]  # 1: a scenario missed its outcome; the rows are there
    db = keep / "fyr.db"
    assert db.exists(), res.stderr[-2000:]
    return db


TOOLS = Path(__file__).resolve().parent.parent / ".cache" / "tools"


def _tool(name: str) -> Path:
    path = TOOLS / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: `make test` fetches it (or run `python scripts/fetch_tools.py`)",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """The real kubectl 1.37 binary that judges the simulated cluster (cached by scripts/fetch_tools.py)."""
    return _tool("kubectl")


@pytest.fixture(scope="session")
def helm() -> Path:
    """The real helm 4 binary (cached by scripts/fetch_tools.py)."""
    return _tool("helm")


@pytest.fixture(autouse=True)
def _no_leaked_tasks(request: pytest.FixtureRequest) -> None:
    """Every async test is checked for asyncio tasks it left running (see `_tasks_finished`)."""
    if pytest_asyncio.is_async_test(request.node):
        request.getfixturevalue("_tasks_finished")


@pytest_asyncio.fixture
async def _tasks_finished() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running on its loop once it and its fixtures have finished.

    Set up before the test's other fixtures, so torn down after them: a fixture that stops its own
    server or service is not blamed. A task still running after a short grace period is cancelled
    (so it cannot disturb the next test) and named in the failure.
    """
    loop = asyncio.get_running_loop()
    before = asyncio.all_tasks(loop)
    yield
    me = asyncio.current_task()
    deadline = loop.time() + TASK_GRACE_SECONDS
    while True:
        left = [t for t in asyncio.all_tasks(loop) - before if t is not me and not t.done()]
        if not left or loop.time() >= deadline:
            break
        await asyncio.sleep(0.02)
    if left:
        names = sorted(_describe(t) for t in left)
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=TASK_GRACE_SECONDS)
        pytest.fail(f"the test left {len(left)} asyncio task(s) running: {'; '.join(names)}")


def _describe(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
    return f"{task.get_name()} {getattr(coro, '__qualname__', coro)!r}{where}"
