"""`fyr demo --keep PATH`: a folder or a database file; an earlier demo database is replaced, nothing else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fyr.demo.place import demo_place
from fyr.errors import ConfigError


def _db_with_clusters(path: Path, *clusters: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE rollouts (id INTEGER PRIMARY KEY, cluster TEXT)")
    conn.executemany("INSERT INTO rollouts (cluster) VALUES (?)", [(c,) for c in clusters])
    conn.commit()
    conn.close()


def test_without_keep_a_temporary_folder_is_used_and_removed() -> None:
    place = demo_place(None, cluster="demo")
    assert place.database.parent == place.folder and not place.kept
    place.cleanup()
    assert not place.folder.exists()


def test_a_path_without_a_database_suffix_is_a_folder_that_gets_fyr_db(tmp_path: Path) -> None:
    place = demo_place(tmp_path / "keep", cluster="demo")
    assert place.folder.is_dir() and place.database == tmp_path / "keep" / "fyr.db" and not place.replaced


def test_a_path_ending_in_db_is_the_database_file_not_a_folder(tmp_path: Path) -> None:
    place = demo_place(tmp_path / "sub" / "x.db", cluster="demo")
    assert place.database == tmp_path / "sub" / "x.db" and not place.database.exists()
    assert (tmp_path / "sub").is_dir()
    place.cleanup()


def test_an_earlier_demo_database_is_replaced(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    _db_with_clusters(db, "demo", "demo")
    Path(f"{db}-wal").write_bytes(b"")
    place = demo_place(db, cluster="demo")
    assert place.replaced and not db.exists() and not Path(f"{db}-wal").exists()


def test_a_database_of_another_cluster_is_never_replaced(tmp_path: Path) -> None:
    db = tmp_path / "fyr.db"
    _db_with_clusters(db, "demo", "production")
    with pytest.raises(ConfigError, match=r"holds rollouts of cluster\(s\) production"):
        demo_place(tmp_path, cluster="demo")
    assert db.exists()


def test_a_file_that_is_not_a_fyr_database_is_never_replaced(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("my notes, not SQLite")
    with pytest.raises(ConfigError, match="not a Fyr demo database"):
        demo_place(notes, cluster="demo")
    assert notes.read_text() == "my notes, not SQLite"
    other = tmp_path / "notes.txt"
    other.write_text("x")
    with pytest.raises(ConfigError, match=r"give a folder or a path ending in \.db"):
        demo_place(other, cluster="demo")
