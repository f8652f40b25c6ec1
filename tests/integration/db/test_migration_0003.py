"""Migration 0003 (workload kind and uid, DELETED) on data: up and down on SQLite and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from fyr.db.migrate import downgrade, sync_url, upgrade
from tests.conftest import prepare_mysql, require_mysql_url

_INSERT = ("INSERT INTO rollouts (cluster, namespace, deployment, generation, status, origin, "
           "analysis_attempts, notify_attempts, recovery_attempts{cols}) VALUES ('c', 'shop', :name, :gen, "
           ":status, 'k8s', 0, 0, 0{vals})")


def _url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    url = require_mysql_url()
    prepare_mysql(url)
    return url


def _insert(conn, name: str, gen: int, status: str, kind: str | None = None,  # type: ignore[no-untyped-def]
            uid: str | None = None) -> None:
    cols = vals = ""
    params = {"name": name, "gen": gen, "status": status}
    if kind is not None:
        cols, vals = ", kind, uid", ", :kind, :uid"
        params.update(kind=kind, uid=uid or "")
    conn.execute(text(_INSERT.format(cols=cols, vals=vals)), params)


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_existing_rows_become_deployments_of_unknown_uid_and_down_keeps_the_old_key(backend: str,
                                                                                     tmp_path: Path) -> None:
    url = _url(backend, tmp_path)
    upgrade(url, "0001")
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            _insert(conn, "api", 1, "SUCCESS")
            _insert(conn, "api", 2, "ROLLING_OUT")
        upgrade(url, "0003")
        with engine.begin() as conn:
            got = conn.execute(text("SELECT deployment, generation, status, kind, uid FROM rollouts "
                                    "ORDER BY generation")).all()
            assert [tuple(r) for r in got] == [("api", 1, "SUCCESS", "Deployment", ""),
                                              ("api", 2, "ROLLING_OUT", "Deployment", "")]
            # The new key: a StatefulSet of the same name, and a re-created Deployment (new uid).
            _insert(conn, "api", 1, "DELETED", kind="StatefulSet", uid="u-sts")
            _insert(conn, "api", 2, "SUCCESS", kind="Deployment", uid="u-new")
            _insert(conn, "api", 3, "DELETED", kind="Deployment", uid="u-new")
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _insert(conn, "api", 2, "FAILED", kind="Deployment", uid="u-new")
        downgrade(url, "0001")
        with engine.begin() as conn:
            got = conn.execute(text("SELECT deployment, generation, status FROM rollouts ORDER BY generation")).all()
            # Other kinds go; of two uids for one generation the newest row stays; DELETED is SUPERSEDED.
            assert [tuple(r) for r in got] == [("api", 1, "SUCCESS"), ("api", 2, "SUCCESS"),
                                              ("api", 3, "SUPERSEDED")]
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _insert(conn, "api", 2, "FAILED")
        upgrade(url)
    finally:
        engine.dispose()


async def test_the_watcher_adopts_a_row_of_unknown_uid_instead_of_recording_the_rollout_twice(database) -> None:
    from sqlalchemy import select

    from fyr.db import rollouts
    from fyr.models.rollout import Rollout
    from fyr.models.rollout import RolloutStatus as S

    async with database.session() as s:
        legacy, _ = await rollouts.record_generation(s, rollouts.RolloutKey("c", "shop", "api", 4),
                                                     status=S.ROLLING_OUT)
        assert legacy.uid == "" and legacy.kind == "Deployment"
    async with database.session() as s:
        again, _ = await rollouts.record_generation(s, rollouts.RolloutKey("c", "shop", "api", 4, uid="u-1"))
        assert again.id == legacy.id and again.uid == "u-1"
        ids = await rollouts.close_deleted(s, "c", "Deployment", "shop", "api", uids=["u-1", ""])
        assert ids == [legacy.id]
    async with database.session() as s:
        got = list((await s.execute(select(Rollout))).scalars())
    assert [(r.uid, r.status) for r in got] == [("u-1", S.DELETED)]
