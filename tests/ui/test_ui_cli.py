"""`fyr ui` as a user runs it, on the database `fyr demo --keep DIR` leaves behind."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cli.test_demo_and_all import _env

FYR = [sys.executable, "-m", "fyr"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_up(url: str, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=2) as c:
        while time.monotonic() < deadline and proc.returncode is None:
            try:
                if (await c.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"fyr ui did not answer {url} within 30 s")


def _demo_history(db: Path, tmp_path: Path) -> tuple[str, set[str], dict[str, Any], dict[str, Any]]:
    """A copy of the demo's database, read back with `fyr rollouts list/show`."""
    copy = tmp_path / "fyr.db"
    shutil.copy(db, copy)
    db_url = f"sqlite:///{copy}"
    listed = json.loads(subprocess.run([*FYR, "rollouts", "list", "--format", "json", "--limit", "500"],
                                       capture_output=True, text=True, env=_env(DATABASE_URL=db_url),
                                       cwd=tmp_path, check=True).stdout)
    failed = next(r for r in listed if r["status"] == "FAILED" and r["analysis_status"] == "DONE")
    shown = json.loads(subprocess.run([*FYR, "rollouts", "show", str(failed["id"]), "--format", "json"],
                                      capture_output=True, text=True, env=_env(DATABASE_URL=db_url),
                                      cwd=tmp_path, check=True).stdout)
    return db_url, {f"{r['namespace']}/{r['deployment']}" for r in listed}, failed, shown


@pytest.mark.timeout(180)
async def test_fyr_ui_lists_the_demo_and_keeps_its_token_wall(demo_history: Path, tmp_path: Path) -> None:
    db_url, workloads, failed, shown = await asyncio.to_thread(_demo_history, demo_history, tmp_path)
    assert len(workloads) >= 7

    for token in (None, "s3cret-ui-token"):
        port = _free_port()
        env = _env(DATABASE_URL=db_url, LOG_LEVEL="WARNING", **({"FYR_UI_TOKEN": token} if token else {}))
        proc = await asyncio.create_subprocess_exec(*FYR, "ui", "--port", str(port), env=env, cwd=tmp_path,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            await _wait_up(f"{base}/healthz", proc)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as c:
                listing = await c.get("/ui/")
                detail = await c.get(f"/ui/rollouts/{failed['id']}")
            assert listing.status_code == 200 and detail.status_code == 200
            assert set(re.findall(r'<a href="/ui/rollouts/\d+">([^<]+)</a>', listing.text)) == workloads
            analysis = shown["analysis"]
            assert analysis["category"] in detail.text
            assert analysis["summary"].replace("'", "&#39;").replace('"', "&#34;") in detail.text
            if token:
                async with httpx.AsyncClient(base_url=base, timeout=10) as anonymous:
                    for path in ("/ui/", f"/ui/rollouts/{failed['id']}", "/ui/stats"):
                        resp = await anonymous.get(path)
                        assert resp.status_code == 401
                        assert not any(w.split("/")[1] in resp.text for w in workloads)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 20)
