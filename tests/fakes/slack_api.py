"""A Slack Web API fake on loopback (aiohttp.web), driven in tests by the real slack_sdk client.

Speaks the wire format of docs/wire-formats.md 'Slack Web API': `POST /api/chat.postMessage` (JSON body, Bearer
token), `GET /api/conversations.history` and `/api/conversations.replies` (with
`include_all_metadata`, `oldest`, `limit`, `cursor`), `/api/auth.test`. Failures are HTTP 200 with
`{"ok": false, "error": ...}` except rate limiting (HTTP 429 + `Retry-After`) and server errors.
Faults are scripted: `fail_next(...)` for 429/5xx/error codes (optionally *after* storing the
message — Slack accepted it but the answer was lost), `enforce_channel_interval` for Slack's
one-message-per-second-per-channel limit. Everything is recorded in `calls` and `messages`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    method: str
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    after_store: bool = False  # chat.postMessage: store the message, then fail the answer
    channel: str | None = None  # only for this channel (name or id); None: any
    remaining: int = 1


@dataclass
class StoredMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    metadata: dict[str, Any] | None
    thread_ts: str | None
    received_at: float
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    status: int
    error: str | None
    at: float


class SlackFake:
    def __init__(self, *, token: str = "xoxb-test", auto_create: bool = True,
                 enforce_channel_interval: float | None = None, interval_tolerance: float = 0.05,
                 latency: float = 0.0) -> None:
        self.token = token
        self.auto_create = auto_create
        self.enforce_channel_interval = enforce_channel_interval
        self.interval_tolerance = interval_tolerance
        self.latency = latency
        # When set to an unset Event: chat.postMessage stores the message, then holds its answer
        # until the event is set (a client can die after Slack accepted its post).
        self.hold_answers: asyncio.Event | None = None
        # The same for chat.update: the edit is applied, its answer waits (an edit still in flight).
        self.hold_updates: asyncio.Event | None = None
        self.stored = asyncio.Event()
        self.channels: dict[str, str] = {}  # "#name" -> "C..."
        self.not_found: set[str] = set()
        self.not_in_channel: set[str] = set()
        self.archived: set[str] = set()
        self.messages: list[StoredMessage] = []
        self.updates: list[tuple[str, str, str, Any]] = []  # chat.update: (channel, ts, text, blocks)
        self.responses: list[tuple[str, dict[str, Any]]] = []  # posts to an interaction's response_url
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.rate_limited: int = 0
        self._last_post: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> SlackFake:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> SlackFake:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._dispatch)
        app.router.add_post("/response/{token}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # --- scripting ----------------------------------------------------------------------------

    def add_channel(self, name: str, channel_id: str | None = None) -> str:
        cid = channel_id or f"C{next(self._ids):08d}"
        self.channels[name] = cid
        return cid

    def fail_next(self, method: str, *, status: int = 200, error: str | None = None,
                  retry_after: int | None = None, count: int = 1, after_store: bool = False,
                  channel: str | None = None) -> None:
        self.faults.append(Fault(method, status, error, retry_after, after_store, channel, count))

    def top_level(self, channel: str | None = None) -> list[StoredMessage]:
        cid = self._resolve(channel) if channel else None
        return [m for m in self.messages if m.thread_ts is None and (cid is None or m.channel == cid)]

    def replies(self, thread_ts: str) -> list[StoredMessage]:
        return [m for m in self.messages if m.thread_ts == thread_ts]

    def by_rollout(self, rollout_id: int) -> list[StoredMessage]:
        return [m for m in self.messages
                if (m.metadata or {}).get("event_payload", {}).get("rollout_id") == rollout_id]

    # --- internals ----------------------------------------------------------------------------

    def _resolve(self, channel: str | None) -> str | None:
        if not channel:
            return None
        if channel in self.channels.values():
            return channel
        key = channel if channel.startswith("#") else "#" + channel
        if key in self.channels:
            return self.channels[key]
        if self.auto_create and key not in self.not_found:
            return self.add_channel(key)
        return None

    def _is(self, names: set[str], channel: str, cid: str) -> bool:
        key = channel if channel.startswith("#") else "#" + channel
        return channel in names or key in names or cid in names

    def _take_fault(self, method: str, channel: str | None) -> Fault | None:
        for f in self.faults:
            if f.method != method or f.remaining <= 0:
                continue
            if (f.channel is not None and channel is not None
                    and self._resolve(f.channel) != self._resolve(channel)):
                continue
            f.remaining -= 1
            return f
        return None

    def _reply(self, method: str, args: dict[str, Any], body: dict[str, Any], status: int = 200,
               headers: dict[str, str] | None = None) -> web.Response:
        self.calls.append(Call(method, args, status, body.get("error"), time.monotonic()))
        return web.json_response(body, status=status, headers=headers)

    def _fault_response(self, method: str, args: dict[str, Any], f: Fault) -> web.Response:
        headers = {}
        if f.status == 429:
            self.rate_limited += 1
            headers["Retry-After"] = str(f.retry_after if f.retry_after is not None else 1)
            return self._reply(method, args, {"ok": False, "error": "ratelimited"}, 429, headers)
        if f.status >= 500:
            self.calls.append(Call(method, args, f.status, f.error, time.monotonic()))
            return web.Response(status=f.status, text="<html>upstream error</html>", content_type="text/html")
        return self._reply(method, args, {"ok": False, "error": f.error or "internal_error"})

    @staticmethod
    async def _answer_when(hold: asyncio.Event | None, response: web.Response) -> web.Response:
        """A stored post or edit answers once `hold` (if set) is; a refusal answers at once."""
        if response.status == 200 and hold is not None:
            await hold.wait()
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        if self.latency:
            await asyncio.sleep(self.latency)
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}" and args.get("token") != self.token:
            return self._reply(method, args, {"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return self._reply(method, args, {"ok": True, "url": "https://fake.slack.com/", "team": "Fake",
                                              "user": "fyr", "team_id": "T0001", "user_id": "U0FYR",
                                              "bot_id": "B0FYR"})
        if method == "chat.postMessage":
            return await self._answer_when(self.hold_answers, self._post_message(method, args))
        if method == "chat.update":
            return await self._answer_when(self.hold_updates, self._update(method, args))
        if method == "conversations.list":
            chans = [{"id": cid, "name": name.lstrip("#"), "is_archived": name in self.archived}
                     for name, cid in self.channels.items()]
            offset = int(args.get("cursor") or 0)
            limit = int(args.get("limit") or 100)
            more = offset + limit < len(chans)
            return self._reply(method, args, {"ok": True, "channels": chans[offset:offset + limit],
                                              "response_metadata": {"next_cursor": str(offset + limit)
                                                                    if more else ""}})
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, args)
        return self._reply(method, args, {"ok": False, "error": "unknown_method"}, 404)

    def _post_message(self, method: str, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        fault = self._take_fault(method, channel)
        if fault is not None and not fault.after_store:
            return self._fault_response(method, args, fault)
        cid = self._resolve(channel)
        if cid is None or self._is(self.not_found, channel, cid or ""):
            return self._reply(method, args, {"ok": False, "error": "channel_not_found"})
        if self._is(self.not_in_channel, channel, cid):
            return self._reply(method, args, {"ok": False, "error": "not_in_channel"})
        if self._is(self.archived, channel, cid):
            return self._reply(method, args, {"ok": False, "error": "is_archived"})
        if not args.get("text") and not args.get("blocks"):
            return self._reply(method, args, {"ok": False, "error": "no_text"})
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50):
            return self._reply(method, args, {"ok": False, "error": "invalid_blocks"})
        now = time.monotonic()
        if self.enforce_channel_interval is not None:
            last = self._last_post.get(cid)
            if last is not None and now - last < self.enforce_channel_interval - self.interval_tolerance:
                self.rate_limited += 1
                wait = max(1, int(self.enforce_channel_interval - (now - last) + 0.999))
                return self._reply(method, args, {"ok": False, "error": "ratelimited"}, 429,
                                   {"Retry-After": str(wait)})
        self._last_post[cid] = now
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        # Slack's ts is epoch seconds with microseconds, unique per channel: wall clock, bumped.
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        ts = f"{self._last_ts:.6f}"
        thread_ts = args.get("thread_ts") or None
        msg = StoredMessage(cid, ts, str(args.get("text") or ""), blocks, metadata, thread_ts, now, args)
        self.messages.append(msg)
        self.stored.set()
        if fault is not None:  # stored, but the answer is lost
            return self._fault_response(method, args, fault)
        return self._reply(method, args, {"ok": True, "channel": cid, "ts": ts,
                                          "message": {"type": "message", "text": msg.text, "ts": ts}})

    def _update(self, method: str, args: dict[str, Any]) -> web.Response:
        """chat.update: edit a stored message in place (the bot's own), keeping its ts and thread."""
        fault = self._take_fault(method, str(args.get("channel") or ""))
        if fault is not None:
            return self._fault_response(method, args, fault)
        cid = self._resolve(str(args.get("channel") or ""))
        ts = str(args.get("ts") or "")
        msg = next((m for m in self.messages if m.channel == cid and m.ts == ts), None)
        if msg is None:
            return self._reply(method, args, {"ok": False, "error": "message_not_found"})
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        msg.text = str(args.get("text") or msg.text)
        msg.blocks = blocks if blocks is not None else msg.blocks
        self.updates.append((cid, ts, msg.text, blocks))
        return self._reply(method, args, {"ok": True, "channel": cid, "ts": ts, "text": msg.text})

    async def _response_url(self, request: web.Request) -> web.Response:
        """A `response_url` Slack gives an interaction: records what the app answered the user."""
        self.responses.append((request.match_info["token"], await request.json()))
        return web.json_response({"ok": True})

    def response_url(self, token: str = "r1") -> str:
        return self.url.rsplit("/api/", 1)[0] + f"/response/{token}"

    def _history(self, method: str, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        fault = self._take_fault(method, channel)
        if fault is not None:
            return self._fault_response(method, args, fault)
        # Like Slack, conversations.history/replies take a channel id, not a name.
        cid = channel if channel in self.channels.values() else None
        if cid is None:
            return self._reply(method, args, {"ok": False, "error": "channel_not_found"})
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        oldest = float(args.get("oldest") or 0)
        limit = int(args.get("limit") or 100)
        offset = int(args.get("cursor") or 0)
        if method == "conversations.history":
            msgs = [m for m in self.messages if m.channel == cid and m.thread_ts is None
                    and float(m.ts) > oldest]
            msgs.sort(key=lambda m: float(m.ts), reverse=True)
        else:
            parent = str(args.get("ts") or "")
            msgs = [m for m in self.messages if m.channel == cid and (m.ts == parent or m.thread_ts == parent)
                    and float(m.ts) >= oldest]
            if not any(m.ts == parent for m in msgs):
                return self._reply(method, args, {"ok": False, "error": "thread_not_found"})
            msgs.sort(key=lambda m: float(m.ts))
        page = msgs[offset:offset + limit]
        more = offset + limit < len(msgs)
        out = []
        for m in page:
            item: dict[str, Any] = {"type": "message", "text": m.text, "ts": m.ts, "user": "U0FYR"}
            if m.thread_ts:
                item["thread_ts"] = m.thread_ts
            if with_meta and m.metadata:
                item["metadata"] = m.metadata
            out.append(item)
        return self._reply(method, args, {"ok": True, "messages": out, "has_more": more,
                                          "response_metadata": {"next_cursor": str(offset + limit) if more
                                                                else ""}})
