"""The async engine, the session scope, and the schema check.

`Database` owns one engine and its session factory. The caller owns the transaction:
`async with db.session() as s:` commits at the end and rolls back on error; repository
functions never commit. Connection-level failures surface as `DatabaseUnavailable`
(a `TransientError`) so that service loops back off and try again in the same process.

Every wait is bounded. A database that accepts TCP but answers nothing (a frozen or overloaded
server, a half-open connection) otherwise hangs a session forever: aiomysql bounds only the TCP
connect, not the handshake, the pool's pre-ping or a statement. So each MySQL session runs under a
deadline (`session_timeout`, or the caller's `max_seconds=`): past it the connection is dropped without
a goodbye (never a ROLLBACK sent into the void) and `DatabaseUnavailable` is raised. Lock waits are
capped server-side (innodb_lock_wait_timeout, lock_wait_timeout) so a conflict fails fast and is
retried instead of eating the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from fyr.db.diagnose import classify, is_missing_table, shown
from fyr.errors import DatabaseConflict, DatabaseUnavailable, SchemaOutdated

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# MySQL error codes that mean "the server or the connection went away", not "your SQL is wrong".
_MYSQL_GONE = {2002, 2003, 2006, 2013, 2055, 1053, 1927, 4031}
# Deadlock, lock wait timeout (and "savepoint does not exist": a deadlock inside a savepoint rolled the
# whole transaction back): running the transaction again is right.
_MYSQL_CONFLICT = {1213, 1205, 1305}
MYSQL_CONNECT_TIMEOUT = 3  # seconds, TCP connect (aiomysql's connect_timeout)
MYSQL_LOCK_WAIT_TIMEOUT = 3  # seconds, row locks (innodb) and metadata locks
MYSQL_SESSION_TIMEOUT = 30.0  # seconds, one session from checkout to commit, unless the caller says
_INVALIDATE_SECONDS = 1.0


def normalize_url(raw: str) -> URL:
    """Accept the URLs people write (mysql://, sqlite:///x) and pick our async drivers."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        url = url.set(drivername="mysql+aiomysql")
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    return url


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout | ConnectionError | OSError | asyncio.TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        code = orig.args[0] if orig is not None and orig.args else None
        if isinstance(code, int) and code in _MYSQL_GONE:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(orig):
            return True
        if isinstance(exc, OperationalError) and code is None:
            return True
    return False


def is_conflict(exc: BaseException) -> bool:
    """A transaction that lost to another one (DatabaseConflict, or the MySQL error behind it)."""
    if isinstance(exc, DatabaseConflict):
        return True
    orig = getattr(exc, "orig", None)
    code = orig.args[0] if orig is not None and orig.args else None
    return isinstance(code, int) and code in _MYSQL_CONFLICT


class Pauses(Protocol):
    """The pauses between attempts (fyr.runtime.Backoff is one)."""

    def next_delay(self) -> float: ...


T = TypeVar("T")


async def retry_on_conflict(fn: Callable[[], Awaitable[T]], *, attempts: int, backoff: Pauses,
                            on_retry: Callable[[], None] | None = None) -> T:
    """Run `fn` (one whole transaction) again after a deadlock or lock wait timeout, up to `attempts`
    runs in all, pausing `backoff.next_delay()` seconds before each new run; the last conflict is
    raised. `on_retry` is told of each retry (a metric). Any other error is raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except (DatabaseConflict, DBAPIError) as exc:
            if attempt >= attempts or not is_conflict(exc):
                raise
        if on_retry is not None:
            on_retry()
        await asyncio.sleep(backoff.next_delay())
    raise ValueError(f"retry_on_conflict needs attempts >= 1, got {attempts}")


class Database:
    """One engine + session factory; built by main(), passed to whoever needs it."""

    def __init__(self, engine: AsyncEngine, *, session_timeout: float | None = None) -> None:
        self.engine = engine
        self.session_timeout = session_timeout
        self.dialect = engine.dialect.name
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._outage_until = 0.0

    @classmethod
    def from_url(cls, raw_url: str, *, pool_size: int = 10, echo: bool = False,
                 session_timeout: float | None = MYSQL_SESSION_TIMEOUT) -> Database:
        """`session_timeout` applies to MySQL (SQLite waits on its own busy_timeout)."""
        url = normalize_url(raw_url)
        kwargs: dict[str, Any] = {"echo": echo}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                          pool_recycle=1800, pool_timeout=10,
                          connect_args={"connect_timeout": MYSQL_CONNECT_TIMEOUT, "init_command": (
                              f"SET SESSION innodb_lock_wait_timeout = {MYSQL_LOCK_WAIT_TIMEOUT}, "
                              f"lock_wait_timeout = {MYSQL_LOCK_WAIT_TIMEOUT}")})
        engine = create_async_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
            return cls(engine)
        return cls(engine, session_timeout=session_timeout)

    @property
    def url(self) -> URL:
        return self.engine.url

    def simulate_outage(self, seconds: float) -> None:
        """Test hook: every session raises DatabaseUnavailable for `seconds`."""
        self._outage_until = asyncio.get_running_loop().time() + seconds

    @contextlib.asynccontextmanager
    async def session(self, *, max_seconds: float | None = None) -> AsyncIterator[AsyncSession]:
        """A transaction, committed at the end; on MySQL bounded by `max_seconds` (default: `session_timeout`)."""
        if self._outage_until and asyncio.get_running_loop().time() < self._outage_until:
            raise DatabaseUnavailable("database unavailable (simulated outage)")
        # SQLite waits on its own busy_timeout; cancelling aiosqlite mid-statement gains nothing.
        limit = None if self.dialect == "sqlite" else max_seconds if max_seconds is not None else self.session_timeout
        session = self._sessions()
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                yield session
                await session.commit()
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            await _quiet_invalidate(session)
            raise DatabaseUnavailable(f"database did not answer within {limit:g} s") from exc
        except (DBAPIError, PoolTimeout, ConnectionError, OSError) as exc:
            await _quiet_rollback(session)
            if is_connection_error(exc):
                raise DatabaseUnavailable(f"database unavailable: {_short(exc)}") from exc
            if is_conflict(exc):
                raise DatabaseConflict(f"database conflict, retry: {_short(exc)}") from exc
            raise
        except BaseException:
            await _quiet_rollback(session)
            raise
        finally:
            await _quiet_close(session)

    async def ping(self) -> bool:
        try:
            async with self.session() as s:
                await s.execute(text("SELECT 1"))
        except DatabaseUnavailable:
            return False
        return True

    async def current_revision(self, *, max_seconds: float | None = None) -> str | None:
        """The schema's revision; None when the database has no version table (never migrated).

        Any other failure (wrong password, unknown database, server away) is raised as what it is.
        """
        try:
            async with self.session(max_seconds=max_seconds) as s:
                try:
                    row = (await s.execute(text("SELECT version_num FROM alembic_version"))).first()
                except DBAPIError as exc:
                    if is_missing_table(exc):
                        return None
                    raise classify(exc, self.url) from exc
        except DatabaseUnavailable as exc:
            raise classify(exc.__cause__ or exc, self.url, unreachable=True) from exc
        return str(row[0]) if row else None

    async def check_schema(self, *, max_seconds: float | None = None) -> None:
        """Raise SchemaOutdated unless the database is at the migrations' head."""
        current = await self.current_revision(max_seconds=max_seconds)
        head = head_revision()
        if current != head:
            raise SchemaOutdated(
                f"{shown(self.url)}: schema is at {current or 'nothing (never migrated)'}, code needs {head}: "
                "run `fyr db upgrade`"
            )

    async def dispose(self) -> None:
        await self.engine.dispose()


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration shipped with the code (what `check_schema` expects)."""
    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {heads}")
    return str(heads[0])


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin_immediate) instead of pysqlite's lazy BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # SQLite allows one writer. A deferred transaction that reads and then writes fails at once with
    # "database is locked" when another writer got in between; BEGIN IMMEDIATE takes the write lock
    # up front and waits (busy_timeout) instead, which makes claims safe across tasks and processes.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


async def _quiet_rollback(session: AsyncSession) -> None:
    with contextlib.suppress(DBAPIError, PoolTimeout, ConnectionError, OSError):
        await session.rollback()


async def _quiet_invalidate(session: AsyncSession) -> None:
    """Drop the session's connections without waiting for a server that does not answer."""
    with contextlib.suppress(DBAPIError, PoolTimeout, ConnectionError, OSError, TimeoutError):
        async with asyncio.timeout(_INVALIDATE_SECONDS):
            await session.invalidate()


async def _quiet_close(session: AsyncSession) -> None:
    with contextlib.suppress(DBAPIError, PoolTimeout, ConnectionError, OSError):
        await session.close()


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).splitlines()[0][:200]
