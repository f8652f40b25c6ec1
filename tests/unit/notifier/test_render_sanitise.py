"""Hostile text and links in every field of a Slack message: fences, invisible controls, foreign hosts."""

from __future__ import annotations

import dataclasses
import json
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest

from fyr.models.analysis import Analysis
from fyr.models.rollout import Rollout, RolloutStatus
from fyr.services.notifier.render import (
    MessageView,
    RenderedMessage,
    render_failure,
    render_repeat,
    view_from_rows,
)
from fyr.services.notifier.sanitize import link_host_allowed, strip_invisible

pytestmark = pytest.mark.timeout(20)

HOSTS = frozenset({"gitlab.acme.io"})
FENCE = "```"
RLO, ZWSP, ZWJ, LRI, BOM = "\u202e", "\u200b", "\u200d", "\u2066", "\ufeff"


def _view(*, rollout: dict[str, Any] | None = None, analysis: dict[str, Any] | None = None,
          hosts: frozenset[str] | None = HOSTS) -> MessageView:
    r: dict[str, Any] = dict(
        id=42, cluster="prod", namespace="shop", deployment="api", generation=7, revision=5,
        image="registry.acme.io/shop/api:1.0", status=RolloutStatus.FAILED, failure_reason="CrashLoopBackOff",
        failed_at=datetime(2026, 12, 4, tzinfo=UTC), git_project="acme/shop-api",
        git_commit="3f9a1c2d4e5f60718293a4b5c6d7e8f901234567",
        pipeline_url="https://gitlab.acme.io/acme/shop-api/-/pipelines/981",
        mr_url="https://gitlab.acme.io/acme/shop-api/-/merge_requests/17",
    )
    r.update(rollout or {})
    a: dict[str, Any] = dict(category="crash_loop", summary="api exits", root_cause="DB_HOST unset",
                             evidence=["Error: connect ECONNREFUSED"], suggested_fix="Set DB_HOST",
                             confidence="high")
    a.update(analysis or {})
    row = Analysis(id=1, rollout_id=42, model_name="gpt-4o-mini", prompt_version="v3", reduced_context={},
                   analysis=a)
    return dataclasses.replace(view_from_rows(Rollout(**r), row), link_hosts=hosts)


def _texts(msg: RenderedMessage) -> list[str]:
    out = [msg.text]
    for b in msg.blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        out.extend(f["text"] for f in b.get("fields", []) or [])
        out.extend(e.get("text", "") for e in b.get("elements", []) or [])
    return out


@pytest.mark.parametrize("field", ["summary", "root_cause", "suggested_fix", "evidence"])
def test_a_fence_in_any_analysis_field_cannot_open_or_close_a_code_block(field: str) -> None:
    hostile = f"fine {FENCE}\n*everything after this is code* {FENCE}{FENCE}` and more ````"
    value: Any = [hostile, "second line"] if field == "evidence" else hostile
    msg = render_failure(_view(analysis={field: value}))
    for text in _texts(msg):
        own = 2 if text.startswith("*Evidence*") else 0  # Fyr's own fence around the evidence
        assert text.count(FENCE) == own, text
    assert "everything after this is code" in json.dumps(msg.blocks)


def test_fences_and_backticks_in_kubernetes_fields_stay_inside_their_inline_code() -> None:
    msg = render_failure(_view(rollout={"image": "evil`*bold*` ```x", "failure_message": "m ``` n",
                                        "git_project": "acme/`x`"}))
    image = next(t for t in _texts(msg) if t.startswith("*Image*"))
    assert image.count("`") == 2 and image.startswith("*Image*\n`") and image.endswith("`")
    for text in _texts(msg):
        assert FENCE not in text or text.startswith("*Evidence*")


@pytest.mark.parametrize("field", ["summary", "root_cause", "suggested_fix"])
def test_bidi_overrides_and_zero_width_characters_are_removed_from_every_field(field: str) -> None:
    hostile = f"image tag 1.0{RLO}0.2 @{ZWSP}channel {LRI}x{BOM}y{ZWJ}"
    msg = render_failure(_view(analysis={field: hostile, "evidence": [hostile]},
                               rollout={"image": f"api:{RLO}1", "failure_reason": f"Crash{ZWSP}Loop"}))
    body = json.dumps(msg.blocks, ensure_ascii=False) + msg.text
    for ch in (RLO, ZWSP, ZWJ, LRI, BOM):
        assert ch not in body
    assert "1.00.2" in body and "@channel" in body


def test_every_unicode_format_character_is_stripped() -> None:
    fmt = "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")
    assert len(fmt) > 150
    assert strip_invisible(f"a{fmt}b") == "ab"
    assert strip_invisible("naïve – ok ✅ 日本") == "naïve – ok ✅ 日本"


def test_a_link_with_userinfo_naming_the_gitlab_host_becomes_text_not_the_pipeline_link() -> None:
    attack = "https://gitlab.acme.io@evil.example/acme/shop-api/-/pipelines/1"
    msg = render_failure(_view(rollout={"pipeline_url": attack, "mr_url": None}))
    body = json.dumps(msg.blocks)
    assert "evil.example" not in body
    assert "|Pipeline>" not in body and "Pipeline (link withheld" in body


@pytest.mark.parametrize("url", [
    "https://evil.example/acme/-/pipelines/1",  # not a configured host
    "https://gitlab.acme.io:pw@evil.example/x",  # userinfo with a password
    "https://user@gitlab.acme.io/x",  # userinfo even on the right host
    "https://evil.example\\@gitlab.acme.io/x",  # backslash: browsers go to evil.example
    "https://gitlab.acme.io.evil.example/x",  # suffix trick
    "javascript://gitlab.acme.io/%0aalert(1)",
    f"https://gitlab.acme.io{RLO}/x",
])
def test_links_to_anything_but_a_configured_gitlab_host_are_shown_as_text(url: str) -> None:
    msg = render_failure(_view(rollout={"pipeline_url": url, "mr_url": url}))
    body = json.dumps(msg.blocks)
    assert "<http" not in body and "<javascript" not in body
    assert "Pipeline" in body


def test_links_to_the_configured_host_stay_links_and_build_the_commit_link() -> None:
    body = json.dumps(render_failure(_view()).blocks)
    assert "<https://gitlab.acme.io/acme/shop-api/-/pipelines/981|Pipeline>" in body
    assert "<https://gitlab.acme.io/acme/shop-api/-/commit/3f9a1c2d4e5f60718293a4b5c6d7e8f901234567|" in body
    assert "GITLAB.ACME.IO" not in body
    assert link_host_allowed("https://GitLab.Acme.IO./x", HOSTS)


def test_no_configured_host_means_no_links_in_the_notifier() -> None:
    body = json.dumps(render_repeat(_view(hosts=frozenset())).blocks)
    assert "<https://" not in body and "Pipeline (link withheld" in body
