"""A new user's first steps, run as subprocesses: every mistake is one line naming the cause and what to
do (exit 2), an unreachable dependency one line (exit 1), never a traceback, and nothing written by a
command that only reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import require_mysql_url

FYR = [sys.executable, "-m", "fyr"]
CORPUS = Path(__file__).resolve().parents[2] / "corpus"

pytestmark = pytest.mark.timeout(120)


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("FYR_", "SLACK_", "OPENAI_", "GITLAB_", "KUBE"))
            and k not in ("DATABASE_URL", "MYSQL_URL", "LOG_LEVEL")}
    full.update(env or {})
    return subprocess.run([*FYR, *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=100)


def one_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize(("name", "value"), [("FYR_LLM_PRICES", "{bad"), ("FYR_WATCH_NAMESPACES", "[shop")])
def test_a_json_setting_that_is_not_json_is_one_line_naming_the_variable(tmp_path: Path, name: str,
                                                                        value: str) -> None:
    res = run(["rollouts", "list"], cwd=tmp_path, env={name: value})
    assert res.returncode == 2
    assert name in one_line(res)


def test_version_and_usage_errors(tmp_path: Path) -> None:
    res = run(["--version"], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("fyr 0.")
    res = run(["rollouts", "list", "--limit", "-1"], cwd=tmp_path)
    assert res.returncode == 2 and "--limit" in one_line(res)
    res = run(["analyze", "--bundle", "x.json", "--format", "yaml"], cwd=tmp_path)
    line = one_line(res)
    assert res.returncode == 2 and "'json', 'text'" in line and "fyr analyze --help" in line
    assert "json|text" in run(["analyze", "--help"], cwd=tmp_path, env={"COLUMNS": "200"}).stdout
    assert "table|json" in run(["rollouts", "list", "--help"], cwd=tmp_path, env={"COLUMNS": "200"}).stdout
    script = Path(sys.executable).parent / "fyr"  # the console script, as installed
    res = subprocess.run([str(script), "--show-completion", "bash"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 0 and "_FYR_COMPLETE=complete_bash" in res.stdout and "complete -o" in res.stdout
    assert list(tmp_path.iterdir()) == []


def test_log_level_is_accepted_in_any_case(tmp_path: Path) -> None:
    env = {"LOG_LEVEL": "debug", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    assert run(["db", "upgrade"], cwd=tmp_path, env=env).returncode == 0


def test_an_unknown_migration_revision_is_a_user_error(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    for command in ("upgrade", "downgrade"):
        res = run(["db", command, "zzz"], cwd=tmp_path, env=env)
        # (INFO log lines of the migration may come first: LOG_LEVEL is INFO by default)
        assert res.returncode == 2 and "'zzz'" in res.stderr.strip().splitlines()[-1]
        assert "Traceback" not in res.stderr


def test_a_read_only_command_creates_no_database_and_names_the_one_it_looked_for(tmp_path: Path) -> None:
    res = run(["rollouts", "list"], cwd=tmp_path)
    line = one_line(res)
    assert res.returncode == 2
    assert str(tmp_path / "fyr.db") in line and "DATABASE_URL is not set" in line
    assert list(tmp_path.iterdir()) == []  # no fyr.db, -wal or -shm


def test_an_unmigrated_database_is_named_in_the_schema_message(tmp_path: Path) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    res = run(["rollouts", "list"], cwd=tmp_path, env={"DATABASE_URL": "sqlite:///empty.db"})
    line = one_line(res)
    assert res.returncode == 2 and "empty.db" in line and "never migrated" in line and "fyr db upgrade" in line


def _mysql(url: str, **parts: Any) -> str:
    return make_url(url).set(**parts).render_as_string(hide_password=False)


def test_wrong_mysql_credentials_and_a_missing_database_are_reported_as_such(tmp_path: Path) -> None:
    base = require_mysql_url()
    wrong = _mysql(base, password="certainly-wrong")
    res = run(["rollouts", "list"], cwd=tmp_path, env={"DATABASE_URL": wrong})
    line = one_line(res)
    assert res.returncode == 2 and "refused the login" in line and "check the user and password" in line
    assert "certainly-wrong" not in line and "fyr db upgrade" not in line

    missing = _mysql(base, database="fyr_i14_never_created")
    for args in (["rollouts", "list"], ["db", "upgrade"]):
        res = run(args, cwd=tmp_path, env={"DATABASE_URL": missing})
        line = one_line(res)
        assert res.returncode == 2, args
        assert "'fyr_i14_never_created' does not exist" in line and "CREATE DATABASE" in line
        assert "(1049" not in line  # not the raw driver tuple


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    res = run(["db", "upgrade"], cwd=tmp_path, env={"DATABASE_URL": "mysql://fyr@127.0.0.1:9/fyr"})
    line = one_line(res)
    assert res.returncode == 1 and "cannot reach the database at mysql://fyr@127.0.0.1:9/fyr" in line
    res = run(["rollouts", "list"], cwd=tmp_path, env={"DATABASE_URL": "mysql://fyr@127.0.0.1:9/fyr"})
    assert res.returncode == 1 and "cannot reach" in one_line(res)


def test_no_kubeconfig_is_one_line_naming_the_file_and_the_options(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'fyr.db'}"}
    res = run(["all", "--port", "0"], cwd=tmp_path, env=env)
    line = one_line(res)
    assert res.returncode == 2
    assert str(tmp_path / ".kube" / "config") in line and "--kubeconfig" in line and "--context" in line
    res = run(["all", "--port", "0", "--kubeconfig", "nope.yaml"], cwd=tmp_path, env=env)
    assert res.returncode == 2 and "nope.yaml does not exist" in one_line(res)


async def test_analyze_json_stdout_is_exactly_one_object_while_warnings_are_logged(tmp_path: Path) -> None:
    from tests.fakes.openai_api import FakeOpenAI

    def wrong_answer(_body: dict[str, Any]) -> dict[str, Any]:
        return {"category": "banana", "summary": "x", "root_cause": "y", "evidence": ["not in the context"],
                "suggested_fix": "z", "confidence": "high"}

    bundle = CORPUS / "python_keyerror_env.json"
    async with FakeOpenAI(answer=wrong_answer) as llm:
        env = {"OPENAI_API_KEY": "sk-test-not-real", "OPENAI_BASE_URL": llm.base_url, "LOG_LEVEL": "INFO"}
        res = await _run_async(["analyze", "--bundle", str(bundle), "--format", "json", "--llm", "openai"],
                               cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout)  # the whole of stdout is one JSON document
    assert doc["analysis"]["category"] != "banana"
    assert "llm_answer_rejected" in res.stderr


async def _run_async(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import asyncio

    return await asyncio.to_thread(run, args, cwd=cwd, env=env)
