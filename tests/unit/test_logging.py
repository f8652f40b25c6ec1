from __future__ import annotations

import io
import json
import logging

import structlog

from fyr.logging import configure_logging


def test_json_lines_off_a_tty_with_service_iso_time_and_stdlib_loggers_routed() -> None:
    out = io.StringIO()
    configure_logging(service="watcher", level="INFO", stream=out)
    structlog.get_logger().info("rollout_failed", rollout_id=7, reason="crashloop")
    logging.getLogger("uvicorn.error").warning("Started server process")
    logging.getLogger("sqlalchemy.engine").info("SELECT 1")  # quietened below WARNING
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["rollout_failed", "Started server process"]
    first = lines[0]
    assert first["service"] == "watcher" and first["rollout_id"] == 7 and first["level"] == "info"
    assert first["timestamp"].endswith("Z") and "T" in first["timestamp"]


def test_console_format_is_readable_text() -> None:
    out = io.StringIO()
    configure_logging(service="notifier", level="INFO", fmt="console", stream=out)
    structlog.get_logger().info("slack_message_sent", channel="#team")
    text = out.getvalue()
    assert "slack_message_sent" in text and "channel" in text and not text.lstrip().startswith("{")


def test_fyr_own_log_lines_are_redacted_for_structlog_stdlib_and_tracebacks() -> None:
    out = io.StringIO()
    configure_logging(service="analyzer", level="INFO", stream=out)
    structlog.get_logger().warning("db_failed", error="connect postgres://app:S3cretPw9@db/x failed",
                                   token="xoxb-123-abc", tokens_in=5)
    logging.getLogger("httpx").error("Authorization: Bearer abcdef123456789 \x1b[36mpassword\x1b[0m=hunter22x")
    try:
        raise ValueError("sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    except ValueError:
        structlog.get_logger().exception("analysis_crashed")
    text = out.getvalue()
    for secret in ("S3cretPw9", "xoxb-123-abc", "abcdef123456789", "hunter22x", "4eC39HqLyjWDarjtT1zdp7dc"):
        assert secret not in text
    first = json.loads(text.splitlines()[0])
    assert first["tokens_in"] == 5 and first["token"] == "****" and first["event"] == "db_failed"
