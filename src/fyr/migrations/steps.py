"""Migration steps that can be run again, so a migration killed midway is finished by the next run.

MySQL and MariaDB commit every DDL statement on its own: a migration killed after three of its six
steps (an evicted Job, a lost connection) keeps those three, while `alembic_version` still names the
previous revision. Alembic then runs the whole revision again and its first `CREATE TABLE` fails
("Table 'analyses' already exists") — every later `fyr db upgrade` fails the same way. Each helper
here looks at the live schema first (SQLAlchemy's inspector) and does only what is missing, so
running a revision again completes it. SQLite runs DDL in the transaction and needs none of this,
but the same code serves both.

Every step also reports itself to `step_hook` (None outside tests): the resumability test uses it
to stop a migration after each step in turn and check that the next upgrade finishes the job.
Write new revisions with these helpers only (see docs/migrations.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

StepHook = Callable[[str], None]
step_hook: StepHook | None = None


@contextlib.contextmanager
def hooked(hook: StepHook) -> Iterator[None]:
    """Call `hook(step_name)` after every step run inside the block (tests)."""
    global step_hook
    previous, step_hook = step_hook, hook
    try:
        yield
    finally:
        step_hook = previous


def _done(name: str) -> None:
    if step_hook is not None:
        step_hook(name)


def _inspector() -> sa.Inspector:
    # A fresh inspector each time: the cached one would not see what the previous step created.
    return sa.inspect(op.get_bind())


def has_table(table: str) -> bool:
    return _inspector().has_table(table)


def has_index(table: str, name: str) -> bool:
    return has_table(table) and any(ix["name"] == name for ix in _inspector().get_indexes(table))


def has_column(table: str, column: str) -> bool:
    return has_table(table) and any(c["name"] == column for c in _inspector().get_columns(table))


def has_unique(table: str, name: str) -> bool:
    return has_table(table) and any(uq["name"] == name for uq in _inspector().get_unique_constraints(table))


def swap_unique(table: str, old: str, new: str, columns: Sequence[str],
                alter: Callable[[Any], None] | None = None) -> None:
    """Replace the unique constraint `old` by `new` on `columns` (and run `alter(batch_op)` in the same
    batch), doing only what is left: a run stopped between the drop and the create completes it."""
    if has_unique(table, old) or not has_unique(table, new) or alter is not None:
        _clear_batch_leftover(table)
        with op.batch_alter_table(table) as batch:
            if alter is not None:
                alter(batch)
            if has_unique(table, old):
                batch.drop_constraint(old, type_="unique")
            if not has_unique(table, new):
                batch.create_unique_constraint(new, list(columns))
    _done(f"swap_unique {table}.{new}")


def create_table(table: str, *columns: Any, **kw: Any) -> None:
    """CREATE TABLE unless it exists (a table is created in one statement: it is all or nothing)."""
    if not has_table(table):
        op.create_table(table, *columns, **kw)
    _done(f"create_table {table}")


def drop_table(table: str) -> None:
    if has_table(table):
        op.drop_table(table)
    _done(f"drop_table {table}")


def create_index(name: str, table: str, columns: Sequence[str], *, unique: bool = False) -> None:
    if not has_index(table, name):
        op.create_index(name, table, list(columns), unique=unique)
    _done(f"create_index {name}")


def drop_index(name: str, table: str) -> None:
    if has_index(table, name):
        op.drop_index(name, table_name=table)
    _done(f"drop_index {name}")


def _clear_batch_leftover(table: str) -> None:
    """SQLite's batch mode copies a table through `_alembic_tmp_<table>`; Python's sqlite3 commits
    the CREATE of that copy on its own, so a run stopped mid-copy leaves it behind and the next
    batch on the table fails with "already exists". The copy holds nothing the table lacks."""
    leftover = f"_alembic_tmp_{table}"
    if op.get_bind().dialect.name == "sqlite" and has_table(leftover):
        op.drop_table(leftover)


def add_column(table: str, column: sa.Column[Any]) -> None:
    """ADD COLUMN unless present. A NOT NULL column needs a server_default (rows already exist)."""
    if not has_column(table, column.name):
        _clear_batch_leftover(table)
        with op.batch_alter_table(table) as batch:
            batch.add_column(column)
    _done(f"add_column {table}.{column.name}")


def drop_column(table: str, column: str) -> None:
    if has_column(table, column):
        _clear_batch_leftover(table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
    _done(f"drop_column {table}.{column}")


def execute_once(name: str, done: Callable[[], bool], statement: str | sa.Executable) -> None:
    """A data step: run `statement` unless `done()` says its effect is already there."""
    if not done():
        op.execute(statement)
    _done(f"execute {name}")


__all__ = ["add_column", "create_index", "create_table", "drop_column", "drop_index", "drop_table",
           "execute_once", "has_column", "has_index", "has_table", "hooked", "step_hook"]
