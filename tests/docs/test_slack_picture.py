"""The README's picture of a Slack message is what the notifier renders today, never an old drawing.

The message is `render_failure` (the notifier's own Block Kit) for a fixed failure, drawn by the
same HTML renderer as `fyr demo --preview`. The page is committed beside the PNG: when the renderer
changes, the page changes, and this test redraws the PNG with headless Chromium and fails once,
asking for the new files to be committed. FYR_REDRAW_PICTURE=1 redraws unconditionally.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fyr.services.notifier.html import page
from fyr.services.notifier.render import IncidentView, MessageView, render_failure
from tests.docs.picture import SCALE, WIDTH, chromium, screenshot

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"
PAGE = IMG / "slack-message.html"
PNG = IMG / "slack-message.png"

SAMPLE = MessageView(
    rollout_id=42, cluster="prod-eu", namespace="shop", deployment="checkout", generation=7, status="FAILED",
    revision=7, image="registry.acme.example/acme/checkout:5c9d917a", failure_reason="CrashLoopBackOff",
    category="crash_loop", confidence="high",
    summary="container app of shop/checkout crashes on start (exit code 1): KeyError: 'PAYMENT_API_URL'",
    root_cause="The container exits (exit code 1) right after starting and the kubelet restarts it with back-off "
               "on 2 pod(s). Decisive log line: KeyError: 'PAYMENT_API_URL'",
    evidence=("checkout-84774f6d5f-j5sm6/app: Error (exit code 1) restarts 3",
              "checkout-84774f6d5f-j5sm6/app (previous): KeyError: 'PAYMENT_API_URL'"),
    suggested_fix="Set PAYMENT_API_URL in the Deployment's env (or the ConfigMap/Secret it reads); the previous "
                  "ReplicaSet's pod template had it.",
    git_project="acme/checkout", commit="5c9d917a27386b2a85c25c3fb90a2e805b252008",
    pipeline_url="https://gitlab.acme.example/acme/checkout/-/pipelines/64099",
    mr_url="https://gitlab.acme.example/acme/checkout/-/merge_requests/6409", team="payments",
    model_name="gpt-4o-mini", prompt_version="analysis_v1", tokens=1843, cost_usd=0.00041, buttons=True,
)
RECOVERED = dataclasses.replace(SAMPLE, incident=IncidentView(
    state="fixed", at=datetime(2026, 12, 4, 10, 42, tzinfo=UTC), by_generation=8, by_commit="e41f0c2b9d",
    repeats=2, last_repeat_at=datetime(2026, 12, 4, 10, 31, tzinfo=UTC)))


def current_page() -> str:
    """The failure message as first posted (with its buttons), then as it reads after the fix."""
    return page([(render_failure(SAMPLE), False), (render_failure(RECOVERED), False)], channel="#team-payments",
                title="Fyr: a failed rollout as posted to Slack, and the same message updated in place once fixed")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.timeout(300)
def test_the_readme_picture_is_the_notifiers_current_message() -> None:
    html = current_page()
    stale = not PAGE.exists() or PAGE.read_text(encoding="utf-8") != html or not PNG.exists()
    if stale or os.environ.get("FYR_REDRAW_PICTURE") == "1":
        if chromium() is None:
            pytest.fail("docs/img/slack-message.png is stale and chromium is missing to redraw it: "
                        "apt-get install -y chromium fonts-noto-color-emoji, then run this test again")
        PAGE.write_text(html, encoding="utf-8")
        screenshot(PAGE, PNG)
        if stale:
            pytest.fail("docs/img/slack-message.{html,png} were stale and have been redrawn: commit them")
    width, height = _png_size(PNG)
    assert width == WIDTH * SCALE and height > 400
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/img/slack-message.png" in readme.split("\n## ")[0]  # shown before the first section
