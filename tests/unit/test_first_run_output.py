"""What a dry run prints: readable messages on stdout, JSON logs without terminal colours or escapes."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from fyr.logging import configure_logging
from fyr.services.notifier.console import ConsoleSink
from fyr.services.notifier.render import MessageView, render_failure


def test_uvicorn_colour_codes_never_reach_json_logs() -> None:
    out = io.StringIO()
    configure_logging(service="all", level="INFO", fmt="json", stream=out)
    # uvicorn logs every message twice over: plain, and coloured in `extra["color_message"]`.
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:8080",
                                            extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"})
    line = out.getvalue()
    assert "\x1b" not in line and "\\u001b" not in line and "color_message" not in line
    assert json.loads(line)["event"] == "Uvicorn running on http://127.0.0.1:8080"


def test_json_logs_keep_non_ascii_readable() -> None:
    out = io.StringIO()
    configure_logging(service="all", level="INFO", fmt="json", stream=out)
    structlog.get_logger().info("slack_message_sent", header="🔴 Rollout failed: shop/checkout")
    assert "🔴 Rollout failed" in out.getvalue() and "\\ud83d" not in out.getvalue()


async def test_console_sink_prints_the_message_as_text_on_stdout_even_off_a_terminal(
        capsys: pytest.CaptureFixture[str]) -> None:
    log_stream = io.StringIO()
    configure_logging(service="all", level="INFO", fmt="json", stream=log_stream)
    view = MessageView(rollout_id=3, cluster="prod", namespace="shop", deployment="checkout", generation=7,
                       status="FAILED", category="crash_loop", summary="KeyError: 'PAYMENT_API_URL'",
                       team="payments")
    msg = render_failure(view)
    await ConsoleSink().post("#team-payments", msg.text, msg.blocks, msg.metadata)
    out = capsys.readouterr().out
    assert "── Slack message to #team-payments ──" in out and "🔴 Rollout failed: shop/checkout" in out
    assert "Team: payments" in out and "\\ud83d" not in out
    logged = json.loads(log_stream.getvalue().splitlines()[-1])
    assert logged["event"] == "slack_message_console" and logged["rollout_id"] == 3
    assert "text" not in logged  # the message itself is the command's output, not a log field
