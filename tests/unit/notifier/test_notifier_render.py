"""Rendering: Block Kit validity (slack_sdk's block models), limits, escaping, console text."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.rollout import Rollout, RolloutStatus
from fyr.services.notifier.render import (
    BLOCKS_MAX,
    BLOCKS_TOTAL_BUDGET,
    MessageView,
    RenderedMessage,
    escape,
    link,
    render_console,
    render_failure,
    render_recovery,
    render_repeat,
    safe_url,
    truncate_escaped,
    view_from_rows,
    with_fallback_note,
)

EVIL = "boom <!channel> hey <@U123> see <https://evil.example|click> & <!here> <#C999> <!subteam^S1>"

pytestmark = pytest.mark.timeout(20)


def _rollout(**kw: Any) -> Rollout:
    base: dict[str, Any] = dict(
        id=42, cluster="prod-eu-1", namespace="shop", deployment="api", generation=7, revision=5,
        image="registry.example/shop/api:3f9a1c2", status=RolloutStatus.FAILED,
        failure_reason="CrashLoopBackOff", failure_message="back-off 40s restarting failed container",
        failed_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC), git_project="acme/shop-api",
        git_commit="3f9a1c2d4e5f60718293a4b5c6d7e8f901234567",
        pipeline_url="https://gitlab.example.com/acme/shop-api/-/pipelines/981",
        mr_url="https://gitlab.example.com/acme/shop-api/-/merge_requests/17", team="payments",
    )
    base.update(kw)
    return Rollout(**base)


def _analysis(**kw: Any) -> Analysis:
    data: dict[str, Any] = dict(
        category="crash_loop", summary="api exits: DATABASE_URL host unreachable",
        root_cause="The new image reads DB_HOST which is not set.",
        evidence=["app[previous]: Error: connect ECONNREFUSED 10.0.0.1:5432", "exit code 1 (x12)"],
        suggested_fix="Set DB_HOST in the deployment env.", confidence="high",
    )
    data.update(kw)
    return Analysis(id=1, rollout_id=42, model_name="gpt-4o-mini", prompt_version="v3",
                    reduced_context={}, analysis=data)


def _metric() -> AnalysisMetric:
    return AnalysisMetric(analysis_id=1, rollout_id=42, model_name="gpt-4o-mini", tokens_in=1200,
                          tokens_out=300, cost_usd=0.00036)


def _validate(msg: RenderedMessage) -> None:
    """Every block parses into slack_sdk's models and passes their validators; JSON-serialisable."""
    assert msg.text
    assert len(msg.blocks) <= BLOCKS_MAX
    json.dumps({"text": msg.text, "blocks": msg.blocks, "metadata": msg.metadata})
    for raw in msg.blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict()["type"] == raw["type"]


def _all_text(msg: RenderedMessage) -> str:
    return msg.text + "\n" + json.dumps(msg.blocks, ensure_ascii=False)


def _mrkdwn_strings(msg: RenderedMessage) -> list[str]:
    out = [msg.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "text" in node and isinstance(node["text"], str):
                out.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(msg.blocks)
    return out


def test_failure_message_is_valid_block_kit_with_everything_section_6_lists() -> None:
    view = view_from_rows(_rollout(), _analysis(), _metric())
    msg = render_failure(view)
    _validate(msg)
    text = _all_text(msg)
    for needle in ("prod-eu-1/shop/api", "Generation", "7 (revision 5)", "registry.example/shop/api:3f9a1c2",
                   "crash_loop", "DATABASE_URL host unreachable", "DB_HOST which is not set",
                   "ECONNREFUSED", "Set DB_HOST", "model gpt-4o-mini", "prompt v3", "1,500 tokens",
                   "rollout #42", "<https://gitlab.example.com/acme/shop-api/-/pipelines/981|Pipeline>",
                   "<https://gitlab.example.com/acme/shop-api/-/merge_requests/17|Merge request>",
                   "<https://gitlab.example.com/acme/shop-api/-/commit/3f9a1c2d4e5f",
                   "high confidence"):
        assert needle in text, needle
    assert msg.blocks[0]["type"] == "header"
    assert msg.blocks[-1]["type"] == "context"
    assert any("```" in s for s in _mrkdwn_strings(msg))  # evidence in a code block
    assert msg.metadata["event_type"] == "fyr_rollout"
    assert msg.metadata["event_payload"]["rollout_id"] == 42


def test_log_line_with_mentions_and_forged_link_renders_as_harmless_text() -> None:
    view = view_from_rows(
        _rollout(failure_message=EVIL, failure_reason=EVIL, image="x<!everyone>", team="<!here>"),
        _analysis(summary=EVIL, root_cause=EVIL, evidence=[EVIL, EVIL], suggested_fix=EVIL),
    )
    for msg in (render_failure(view), render_repeat(view), render_recovery(view),
                render_failure(with_fallback_note(view, EVIL))):
        _validate(msg)
        for s in _mrkdwn_strings(msg):
            # No Slack control sequence survives except links Fyr built itself.
            for m in re.finditer(r"<([^>]*)>", s):
                assert m.group(1).startswith("https://gitlab.example.com/"), s
            assert "<!channel>" not in s and "<@U123>" not in s and "<!here>" not in s
            assert "evil.example|click>" not in s
        assert "&lt;!channel&gt;" in _all_text(msg) or msg.metadata["event_payload"]["kind"] == "recovery"
    console = render_console(render_failure(view))
    assert "<!channel>" in console  # readable text on the console: shown literally, pings nobody there


def test_ampersand_is_escaped_first_and_only_three_characters_are_encoded() -> None:
    assert escape("a & b < c > d \"e\" 'f'") == "a &amp; b &lt; c &gt; d \"e\" 'f'"
    assert escape("&lt;") == "&amp;lt;"


def test_truncation_never_cuts_an_entity_in_half() -> None:
    escaped = escape("<" * 100)
    for limit in range(20, 60):
        out = truncate_escaped(escaped, limit)
        assert len(out) <= limit
        body = out.removesuffix("… [truncated]")
        assert re.fullmatch(r"(&lt;)*", body), out


@pytest.mark.parametrize("size", [5_000, 50_000, 400_000])
def test_huge_untrusted_text_is_truncated_with_a_marker_within_block_kit_limits(size: int) -> None:
    big = "&<>x" * (size // 4)
    view = view_from_rows(
        _rollout(failure_message=big, image="i" * 5000, failure_reason="r" * 5000),
        _analysis(summary=big, root_cause=big, suggested_fix=big, evidence=[big] * 20),
    )
    msg = render_failure(view)
    _validate(msg)
    total = sum(len(s) for s in _mrkdwn_strings(msg)[1:])
    assert total <= BLOCKS_TOTAL_BUDGET + 500  # header/context are small and kept whole
    assert "[truncated]" in _all_text(msg)
    assert len(msg.text) <= 3000
    evidence = next(b for b in msg.blocks if b.get("text", {}).get("text", "").startswith("*Evidence*"))
    assert evidence["text"]["text"].endswith("```")  # the fence still closes after truncation
    assert len(msg.blocks[0]["text"]["text"]) <= 150


def test_missing_analysis_still_renders_what_kubernetes_reported() -> None:
    r = _rollout(analysis_error="LLM timed out 4 times")
    msg = render_failure(view_from_rows(r, None, None))
    _validate(msg)
    text = _all_text(msg)
    assert "Analysis unavailable" in text and "LLM timed out 4 times" in text
    assert "CrashLoopBackOff" in text and "back-off 40s" in text
    assert "Pipeline" in text


def test_links_only_for_http_urls_without_separators() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://ok.example/a b") is None
    assert safe_url("ftp://x.example/") is None
    assert safe_url("https://x.example/a|b>c") == "https://x.example/a%7Cb%3Ec"
    assert link("javascript:alert(1)", "Pipeline") == "Pipeline"
    assert link("https://x.example/p", "<!channel>") == "<https://x.example/p|&lt;!channel&gt;>"
    r = _rollout(pipeline_url="javascript:x", mr_url="https://h.example/x|<!here>")
    view = view_from_rows(r, _analysis())
    msg = render_failure(view)
    _validate(msg)
    assert "javascript:" not in _all_text(msg)
    assert "<https://h.example/x%7C%3C!here%3E|Merge request>" in _all_text(msg)


def test_repeat_and_recovery_are_short_thread_replies() -> None:
    view = view_from_rows(_rollout(generation=9), _analysis())
    rep = render_repeat(view)
    _validate(rep)
    assert "Failed again, same cause" in rep.text and "generation 9" in rep.text
    payload = rep.metadata["event_payload"]
    assert (payload["kind"], payload["rollout_id"]) == ("repeat", 42)
    rec = render_recovery(dataclasses.replace(view, status="SUCCESS",
                                              completed_at=datetime(2026, 11, 27, 10, 5, tzinfo=UTC)))
    _validate(rec)
    assert "Recovered" in rec.text
    assert rec.metadata["event_payload"]["kind"] == "recovery"


def test_fallback_note_is_shown_in_the_message() -> None:
    view = with_fallback_note(view_from_rows(_rollout(), _analysis()),
                              "Sent to #deployments: #team-x gave channel_not_found; invite the app.")
    msg = render_failure(view)
    _validate(msg)
    assert "channel_not_found" in msg.blocks[1]["text"]["text"]
    assert "channel_not_found" in msg.text


def test_console_text_is_readable_and_free_of_terminal_escapes() -> None:
    view = view_from_rows(_rollout(failure_message="\x1b[31mred\x1b[0m \x07bell"),
                          _analysis(evidence=["\x1b]0;title\x07 line & <tag>"]))
    out = render_console(render_failure(view), channel="#payments")
    assert "\x1b" not in out and "\x07" not in out
    assert "Slack message to #payments" in out
    assert "Rollout failed: shop/api" in out
    assert "Deployment: `prod-eu-1/shop/api`" in out
    assert "line & <tag>" in out
    assert "Pipeline (https://gitlab.example.com/acme/shop-api/-/pipelines/981)" in out


def test_many_evidence_lines_keep_under_fifty_blocks() -> None:
    view = MessageView(rollout_id=1, cluster="c", namespace="n", deployment="d", generation=1,
                       status="FAILED", evidence=tuple(f"line {i}" for i in range(500)))
    msg = render_failure(view)
    _validate(msg)
