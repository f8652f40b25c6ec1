"""What went wrong when Fyr opened a database, told in one line a person can act on.

A driver error reaches the user as a tuple like `(1049, "Unknown database 'fyr'")`, and the
schema check used to read every such error as "no version table yet", advising `fyr db upgrade`
for a wrong password. This module sorts an opening error into three kinds, each with its exit
code: the schema is simply missing (None: the caller advises `fyr db upgrade`), the settings are
wrong (ConfigError, exit 2: credentials, unknown database, unreadable file), or the server cannot
be reached (DatabaseUnavailable, exit 1). Pure: it reads exceptions and a URL, nothing else.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL

from fyr.errors import ConfigError, DatabaseUnavailable, FyrError

# MySQL/MariaDB server error codes (https://mariadb.com/kb/en/mariadb-error-code-reference/).
_NO_TABLE = {1146}
_ACCESS_DENIED = {1044, 1045, 1698}
_UNKNOWN_DATABASE = {1049}
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055}


def shown(url: URL) -> str:
    """The URL as it may be printed: no password; SQLite as its file path."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}" if url.database else "in-memory SQLite"
    return url.set(drivername=url.get_backend_name(), query={}).render_as_string(hide_password=True)


def _driver_error(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


def _code_and_text(exc: BaseException) -> tuple[int | None, str]:
    orig = _driver_error(exc)
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    code = args[0] if args and isinstance(args[0], int) else None
    text = str(args[1]) if code is not None and len(args) > 1 else str(orig)
    return code, (text.splitlines() or [""])[0][:300]


def is_missing_table(exc: BaseException) -> bool:
    """The query failed only because the table is not there (a database never migrated)."""
    code, text = _code_and_text(exc)
    return code in _NO_TABLE or text.startswith("no such table")


def classify(exc: BaseException, url: URL, *, unreachable: bool = False) -> FyrError:
    """A ConfigError (fix the settings) or DatabaseUnavailable (the server is away), naming the database.

    `unreachable`: the error was already judged a connection failure; only credentials and an
    unknown database (which some drivers report while connecting) are told apart from it.
    """
    code, text = _code_and_text(exc)
    where = shown(url)
    if code in _ACCESS_DENIED:
        return ConfigError(f"the database server refused the login for {where}: {text}; "
                           "check the user and password in DATABASE_URL")
    if code in _UNKNOWN_DATABASE:
        name = url.database or "?"
        return ConfigError(f"database {name!r} does not exist on {where}: create it "
                           f"(CREATE DATABASE `{name}` CHARACTER SET utf8mb4) then run `fyr db upgrade`")
    if unreachable or code in _UNREACHABLE or isinstance(_driver_error(exc), ConnectionError | TimeoutError):
        return DatabaseUnavailable(f"cannot reach the database at {where}: {text}")
    if url.get_backend_name() == "sqlite" and ("unable to open" in text or "not a database" in text):
        return ConfigError(f"cannot open {where}: {text}; check DATABASE_URL")
    return ConfigError(f"cannot use the database at {where}: {text}")
