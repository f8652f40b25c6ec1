"""The only module that imports slack_sdk: posts messages, finds them again, classifies errors.

slack_sdk's built-in retry handlers are switched OFF (`retry_handlers=[]`) and the notifier owns
every retry, because:
- the default `AsyncConnectionErrorRetryHandler` re-sends `chat.postMessage` after a connection
  reset, and Slack may already have accepted the first one (`chat.postMessage` has no idempotency
  key, docs/wire-formats.md 'slack_sdk retries') — a silent duplicate; our loop instead looks the message up by its
  metadata before re-sending;
- a 429 is about one channel, and the notifier's per-channel pacer knows what else is queued for
  that channel; sleeping inside the HTTP client would hold a worker and hide the delay.

Errors become Fyr's hierarchy with the cause chained (see `classify`): 429 → `RateLimited`
(retry_after from the header; the message was *not* posted), 5xx / timeouts / connection errors /
Slack-side error codes → `SlackUnavailable` (ambiguous: the message may have been posted),
channel problems → `ChannelError` (fall back once to the default channel), payload rejections →
`PayloadRejected` (resend as plain text), token problems → `AuthError`.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from fyr.errors import PermanentError, TransientError
from fyr.runtime import retry_after_header
from fyr.services.notifier.render import EVENT_TYPE

log = structlog.get_logger()

CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired",
                         "account_inactive", "missing_scope", "no_permission", "team_access_not_granted"})
PAYLOAD_ERRORS = frozenset({"msg_too_long", "msg_blocks_too_long", "invalid_blocks",
                            "invalid_blocks_format", "no_text", "invalid_metadata_format",
                            "invalid_metadata_schema", "metadata_too_large", "too_many_attachments"})
SLACK_SIDE_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout",
                               "rate_limited", "ratelimited"})
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


class RateLimited(TransientError):
    """HTTP 429: nothing was posted; wait `retry_after` seconds before the next post to the channel."""


class SlackUnavailable(TransientError):
    """5xx, timeout, connection error or a Slack-side error code: the post may or may not have landed."""

    ambiguous = True


class ChannelError(PermanentError):
    """channel_not_found / not_in_channel / is_archived: this channel will not take the message."""

    def __init__(self, code: str, channel: str) -> None:
        super().__init__(f"{code} ({channel})")
        self.code = code
        self.channel = channel


class AuthError(PermanentError):
    """The token is missing, revoked or lacks a scope; nothing will post until it is fixed."""


class PayloadRejected(PermanentError):
    """Slack refused the payload itself (blocks/text/metadata); a plain-text resend may pass."""


def classify(exc: BaseException, *, channel: str = "") -> Exception:
    """Map a slack_sdk / aiohttp / timeout error onto Fyr's error hierarchy."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        status = int(getattr(resp, "status_code", 0) or 0)
        data = getattr(resp, "data", None)
        code = str(data.get("error", "")) if isinstance(data, dict) else ""
        if status == 429:
            after = retry_after_header(getattr(resp, "headers", None))
            return RateLimited(f"slack ratelimited (429) on {channel}",
                               retry_after=1.0 if after is None else after)
        if status >= 500 or (status != 200 and not code):
            return SlackUnavailable(f"slack http {status}")
        if code in CHANNEL_ERRORS:
            return ChannelError(code, channel)
        if code in AUTH_ERRORS:
            return AuthError(f"slack {code}")
        if code in PAYLOAD_ERRORS:
            return PayloadRejected(f"slack {code}")
        if code in SLACK_SIDE_ERRORS:
            return SlackUnavailable(f"slack {code}")
        return PermanentError(f"slack {code or 'error'} (http {status})")
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ClientError | ConnectionError | OSError):
        return SlackUnavailable(f"slack unreachable: {type(exc).__name__}: {exc}")
    raise TypeError(f"not a Slack client error: {exc!r}")


_CLIENT_ERRORS = (SlackApiError, asyncio.TimeoutError, aiohttp.ClientError, ConnectionError, OSError)


class SlackClient:
    """A thin async wrapper over slack_sdk's AsyncWebClient; one per notifier process."""

    paced = True  # chat.postMessage: about one message per second per channel (docs/wire-formats.md 'Rate limits')

    def __init__(self, *, token: str, base_url: str, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._session = session
        self._own_session = session is None
        self._token = token
        self._base_url = base_url
        self._timeout = max(1, int(timeout))
        self._web: AsyncWebClient | None = None
        self._ids: dict[str, str] = {}  # channel name -> id, learned from successful posts

    @property
    def timeout(self) -> float:
        return float(self._timeout)

    def _client(self) -> AsyncWebClient:
        if self._web is None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            self._web = AsyncWebClient(token=self._token, base_url=self._base_url, timeout=self._timeout,
                                       session=self._session, retry_handlers=[])
        return self._web

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None
        self._web = None

    def channel_id(self, channel: str) -> str:
        if _CHANNEL_ID.match(channel):
            return channel
        return self._ids.get(channel, channel)

    async def auth_test(self) -> dict[str, Any]:
        try:
            resp = await self._client().auth_test()
        except _CLIENT_ERRORS as exc:
            raise classify(exc) from exc
        return dict(resp.data) if isinstance(resp.data, dict) else {}

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None,
                   metadata: dict[str, Any] | None, thread_ts: str | None = None) -> tuple[str, str]:
        """`chat.postMessage`; returns (channel id, ts). No unfurling, no parse/link_names (B1, B5)."""
        kwargs: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False,
                                  "unfurl_media": False}
        if blocks:
            kwargs["blocks"] = blocks
        if metadata:
            kwargs["metadata"] = metadata
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            resp = await self._client().chat_postMessage(**kwargs)
        except _CLIENT_ERRORS as exc:
            raise classify(exc, channel=channel) from exc
        cid = str(resp.get("channel") or channel)
        ts = str(resp.get("ts") or "")
        if not ts:
            raise SlackUnavailable("slack answered ok without ts")
        if cid != channel:
            self._ids[channel] = cid
        return cid, ts

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None) -> None:
        """`chat.update` of our own message: the same payload twice gives the same message."""
        kwargs: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks:
            kwargs["blocks"] = blocks
        try:
            await self._client().chat_update(**kwargs)
        except _CLIENT_ERRORS as exc:
            raise classify(exc, channel=channel) from exc

    async def resolve(self, channel: str, *, max_pages: int = 20) -> str:
        """A channel id for `#name` (conversations.history wants ids): the cache learned from posts,
        else conversations.list (needs channels:read / groups:read; without them the name is kept)."""
        cid = self.channel_id(channel)
        if cid != channel or _CHANNEL_ID.match(channel):
            return cid
        wanted = channel.lstrip("#")
        cursor: str | None = None
        for _ in range(max_pages):
            try:
                resp = await self._client().conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor)
            except _CLIENT_ERRORS as exc:
                err = classify(exc, channel=channel)
                if isinstance(err, AuthError | PermanentError) and not isinstance(err, TransientError):
                    log.warning("slack_channel_unresolved", channel=channel, error=str(err))
                    return channel
                raise err from exc
            for ch in resp.get("channels") or []:
                if ch.get("name") == wanted and ch.get("id"):
                    self._ids[channel] = str(ch["id"])
                    return str(ch["id"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return channel

    async def find_message(self, channel: str, rollout_id: int, oldest: float, *, kind: str = "failure",
                           thread_ts: str | None = None, max_pages: int = 10) -> tuple[str, str] | None:
        """Our message for `rollout_id` (metadata `fyr_rollout`, payload kind) in the channel or
        thread, posted after `oldest` (epoch seconds); None when it is not there."""
        cid = await self.resolve(channel)
        cursor: str | None = None
        for _ in range(max_pages):
            args: dict[str, Any] = {"channel": cid, "include_all_metadata": True, "limit": 200}
            if cursor:
                args["cursor"] = cursor
            try:
                if thread_ts:
                    resp = await self._client().conversations_replies(ts=thread_ts, **args)
                else:
                    resp = await self._client().conversations_history(oldest=f"{oldest:.6f}", **args)
            except _CLIENT_ERRORS as exc:
                raise classify(exc, channel=channel) from exc
            for msg in resp.get("messages") or []:
                meta = msg.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if (meta.get("event_type") == EVENT_TYPE and str(payload.get("rollout_id")) == str(rollout_id)
                        and payload.get("kind", "failure") == kind):
                    return cid, str(msg["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        log.warning("slack_find_message_gave_up", channel=channel, rollout_id=rollout_id, pages=max_pages)
        return None
