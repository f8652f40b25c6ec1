"""Where `fyr demo` keeps its database: a temporary folder, or what `--keep PATH` names.

`--keep` semantics, decided once here: an existing directory, or a PATH without a `.db`, `.sqlite`
or `.sqlite3` suffix, is a folder that gets `fyr.db`; a PATH with such a suffix is the database file
itself (its folder is created). Every run starts from an empty database, so that the closing table
describes this run: a demo database left by an earlier run at that place is replaced (and the demo
says so). A file there that is not a demo database, or holds rollouts of another cluster, is never
touched: the demo refuses with one line instead.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fyr.errors import ConfigError

DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass
class DemoPlace:
    folder: Path  # the routing file and (without a .db PATH) the database live here
    database: Path
    kept: bool
    replaced: bool = False
    temporary: Path | None = None

    def cleanup(self) -> None:
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)


def demo_place(keep: Path | None, *, cluster: str) -> DemoPlace:
    """Decide the paths, and clear an earlier demo database; ConfigError when `keep` cannot be used."""
    if keep is None:
        tmp = Path(tempfile.mkdtemp(prefix="fyr-demo-"))
        return DemoPlace(folder=tmp, database=tmp / "fyr.db", kept=False, temporary=tmp)
    keep = keep.expanduser()
    if keep.is_dir() or (not keep.exists() and keep.suffix.lower() not in DB_SUFFIXES):
        keep.mkdir(parents=True, exist_ok=True)
        place = DemoPlace(folder=keep, database=keep / "fyr.db", kept=True)
    elif keep.suffix.lower() in DB_SUFFIXES:
        keep.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="fyr-demo-"))
        place = DemoPlace(folder=tmp, database=keep, kept=True, temporary=tmp)
    else:
        raise ConfigError(f"--keep {keep}: a file that is not a database; give a folder or a path ending in .db")
    if place.database.exists():
        _check_replaceable(place.database, cluster=cluster)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{place.database}{suffix}").unlink(missing_ok=True)
        place.replaced = True
    return place


def _check_replaceable(database: Path, *, cluster: str) -> None:
    """Only a database that the demo wrote (rollouts of its cluster only, or none) may be replaced."""
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            clusters = {str(row[0]) for row in conn.execute("SELECT DISTINCT cluster FROM rollouts")}
        finally:
            conn.close()
    except sqlite3.Error:
        raise ConfigError(f"--keep: {database} exists and is not a Fyr demo database; not replacing it, "
                          "choose another path") from None
    others = clusters - {cluster}
    if others:
        raise ConfigError(f"--keep: {database} holds rollouts of cluster(s) {', '.join(sorted(others))}, "
                          "not only the demo's; not replacing it, choose another path")
