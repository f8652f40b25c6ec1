"""How slack_sdk / aiohttp errors map onto Fyr's error hierarchy (docs/wire-formats.md 'Errors', 'Rate limits')."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from fyr.errors import PermanentError, TransientError
from fyr.services.notifier.slack_client import (
    AuthError,
    ChannelError,
    PayloadRejected,
    RateLimited,
    SlackUnavailable,
    classify,
)


def _api_error(status: int, data: Any, headers: dict[str, Any] | None = None) -> SlackApiError:
    resp = SlackResponse(client=None, http_verb="POST", api_url="http://x/api/chat.postMessage", req_args={},
                         data=data, headers=headers or {}, status_code=status)
    return SlackApiError("failed", resp)


@pytest.mark.parametrize(("status", "data", "headers", "kind"), [
    (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}, RateLimited),
    (500, {}, {}, SlackUnavailable),
    (503, "<html>", {}, SlackUnavailable),
    (200, {"ok": False, "error": "internal_error"}, {}, SlackUnavailable),
    (200, {"ok": False, "error": "rate_limited"}, {}, SlackUnavailable),
    (200, {"ok": False, "error": "channel_not_found"}, {}, ChannelError),
    (200, {"ok": False, "error": "not_in_channel"}, {}, ChannelError),
    (200, {"ok": False, "error": "is_archived"}, {}, ChannelError),
    (200, {"ok": False, "error": "invalid_auth"}, {}, AuthError),
    (200, {"ok": False, "error": "missing_scope"}, {}, AuthError),
    (200, {"ok": False, "error": "invalid_blocks"}, {}, PayloadRejected),
    (200, {"ok": False, "error": "msg_too_long"}, {}, PayloadRejected),
    (200, {"ok": False, "error": "something_new"}, {}, PermanentError),
])
def test_slack_api_errors_are_classified(status: int, data: Any, headers: dict[str, Any], kind: type) -> None:
    err = classify(_api_error(status, data, headers), channel="#x")
    assert type(err) is kind


def test_retry_after_header_is_kept_and_defaults_to_one_second() -> None:
    err = classify(_api_error(429, {"ok": False, "error": "ratelimited"}, {"retry-after": ["3"]}))
    assert isinstance(err, RateLimited) and err.retry_after == 3.0
    err = classify(_api_error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}))
    assert isinstance(err, RateLimited) and err.retry_after == 0.0
    err = classify(_api_error(429, {"ok": False, "error": "ratelimited"}))
    assert isinstance(err, RateLimited) and err.retry_after == 1.0


def test_network_failures_are_transient_and_channel_errors_permanent() -> None:
    for exc in (TimeoutError(), aiohttp.ServerDisconnectedError(), ConnectionResetError()):
        assert isinstance(classify(exc), TransientError)
    err = classify(_api_error(200, {"ok": False, "error": "not_in_channel"}), channel="#team")
    assert isinstance(err, PermanentError) and isinstance(err, ChannelError)
    assert (err.code, err.channel) == ("not_in_channel", "#team")
