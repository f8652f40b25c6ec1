"""The `fyr` console script, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FYR = [sys.executable, "-m", "fyr"]


def run(
    args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("FYR_") and k not in ("DATABASE_URL", "MYSQL_URL")
    }
    full_env.update(env or {})
    return subprocess.run([*FYR, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)


def test_help_lists_every_service_and_tool() -> None:
    out = run(["--help"])
    assert out.returncode == 0
    for name in ("watcher", "ingestor", "analyzer", "notifier", "all", "demo", "analyze", "collect", "db", "rollouts"):
        assert name in out.stdout
    for sub in (["watcher", "--help"], ["db", "upgrade", "--help"], ["rollouts", "show", "--help"]):
        res = run(sub)
        assert res.returncode == 0 and "Usage" in res.stdout


def test_bad_setting_fails_at_start_with_one_line(tmp_path: Path) -> None:
    res = run(["rollouts", "list"], env={"FYR_CONTEXT_TOKENS": "many"}, cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "FYR_CONTEXT_TOKENS" in res.stderr


def test_services_refuse_a_database_behind_the_code(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    res = run(["rollouts", "list"], env=env, cwd=tmp_path)
    assert res.returncode == 2 and "fyr db upgrade" in res.stderr
    assert res.stderr.strip().count("\n") == 0


@pytest.mark.timeout(180)
def test_db_upgrade_then_history_commands(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "LOG_LEVEL": "WARNING"}
    assert run(["db", "upgrade"], env=env, cwd=tmp_path).returncode == 0
    res = run(["rollouts", "list", "--format", "json"], env=env, cwd=tmp_path)
    assert res.returncode == 0 and json.loads(res.stdout) == []
    res = run(["rollouts", "show", "42"], env=env, cwd=tmp_path)
    assert res.returncode == 2 and "no rollout with id 42" in res.stderr
    res = run(["rollouts", "list", "--status", "BROKEN"], env=env, cwd=tmp_path)
    assert res.returncode == 2 and "--status" in res.stderr
