"""HTTP/1.1 limits uvicorn does not enforce: header size and count, request-line length, read deadlines,
and a connection cap that idle sockets cannot exhaust.

uvicorn's httptools protocol (the fast C parser the ingestor needs for its throughput) buffers a
request head of any size (httptools concatenates a header value until its end arrives), never times
out a client that trickles its head or its body, and only arms its keep-alive timer after a first
response, so a socket that connects and sends nothing stays forever. `limit_concurrency` counts those
sockets, so ~1,000 idle connections lock every genuine client out. Measured before this module: four
connections streaming 128 MB of headers took the ingestor from 89 MB to ~590 MB RSS.

`GuardedHttpToolsProtocol` is uvicorn's protocol with:
- the request head (request line + headers) counted as it arrives, raw bytes included, so nothing
  larger than `max_head_bytes` is ever buffered: 431 past it, 431 past `max_headers` headers, 414 for a
  request target longer than `max_url_bytes`;
- one deadline for the whole head (`head_timeout`, from the connection or the request's first byte)
  and one for the whole body (`body_timeout`, from the end of the head; not while reading is paused
  because the application has not consumed what arrived): 408 and close. Deadlines, not idle
  timers, so a client sending one byte a second gains nothing;
- a connection cap: past `max_connections` the oldest connection with no request in progress is
  closed to make room (an idle or trickling socket), so idle sockets cannot exhaust the cap; only
  when every connection is busy with a request is the newcomer refused with 503.
The ASGI application sees none of this: a refused request never reaches it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = structlog.get_logger()
_LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 32 * 1024  # request line + headers; GitLab sends ~1 KB
    max_headers: int = 100
    max_url_bytes: int = 8 * 1024
    head_timeout: float = 10.0
    body_timeout: float = 15.0  # GitLab itself gives up after 10 s
    keep_alive_timeout: int = 5
    max_connections: int = 1000


class _Refuse(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; `limits` is bound by `protocol_class`."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opened = time.monotonic()
        self._in_head = True
        self._head_bytes = 0  # raw bytes fed while the head is incomplete (an upper bound)
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # --- connection -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.head_timeout, "head")
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _busy(self) -> bool:
        """A request whose head is complete and whose response is not: the application owns it."""
        return self.cycle is not None and not self.cycle.response_complete and not self._in_head

    def _make_room(self) -> None:
        victims = [c for c in self.connections
                   if isinstance(c, GuardedHttpToolsProtocol) and c is not self and not c._busy()
                   and not c.transport.is_closing()]
        if victims:
            oldest = min(victims, key=lambda c: c._opened)
            log.info("http_connection_evicted", connections=len(self.connections))
            oldest._close()
        else:
            log.warning("http_connection_refused", reason="every connection is busy",
                        connections=len(self.connections))
            self._respond(503, "too many connections", retry_after=True)

    # --- deadlines --------------------------------------------------------------------------------
    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        if phase == "body" and self.flow.read_paused and not self.transport.is_closing():
            # Reading is paused because the application has not taken what arrived: the slowness
            # is ours (a large body being parsed), not the client's. Look again later.
            self._arm(self.limits.body_timeout, phase)
            return
        log.info("http_read_timeout", phase=phase)
        if self.cycle is not None and not self._in_head and self.cycle.response_started:
            self._close()  # the application answered already; only the rest of the body is late
            return
        self._respond(408, f"request {phase} not received in time")

    # --- responses --------------------------------------------------------------------------------
    def _respond(self, status: int, reason: str, *, retry_after: bool = False) -> None:
        """Answer without the application and close; the application, if running, sees a disconnect."""
        if self._refused:
            return
        self._refused = True
        self._disarm()
        body = reason.encode("ascii", "replace")
        head = [STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n", b"connection: close\r\n"]
        if retry_after:
            head.append(b"retry-after: 5\r\n")
        self.transport.write(b"".join([*head, b"\r\n", body]))
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the application's send() becomes a no-op at once
            self.cycle.message_event.set()
        self._linger()

    def _linger(self) -> None:
        """Closing with unread input makes the kernel send a reset that can destroy the answer before
        the client reads it: half-close, discard what still arrives for a moment, then close."""
        self._refused = True
        self._disarm()
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(_LINGER_SECONDS, self._close)
        else:
            self._close()

    def _close(self) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the application's send() becomes a no-op at once
            self.cycle.message_event.set()
        self.transport.close()

    # --- parsing ----------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._respond(400, "upgrade not supported")
            return
        except httptools.HttpParserError as exc:
            refusal = exc.__context__ if isinstance(exc.__context__, _Refuse) else None
            if refusal is None:
                self._respond(400, "invalid HTTP request")
            else:
                log.info("http_request_refused", status=refusal.status, reason=refusal.reason)
                self._respond(refusal.status, refusal.reason)
            return
        if self._in_head and self._head_bytes > self.limits.max_head_bytes:
            # The head is still incomplete and already too large: do not buffer any more of it.
            log.info("http_request_refused", status=431, reason="request head too large")
            self._respond(431, "request header fields too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a keep-alive connection's next request: its own head deadline
            self._arm(self.limits.head_timeout, "head")
        self._in_head = True

    def on_headers_complete(self) -> None:
        # Checked once the head is parsed (cheaper than per header): what was buffered is already
        # bounded by the raw count in data_received.
        if len(self.url) > self.limits.max_url_bytes:
            raise _Refuse(414, "request target too long")
        if len(self.headers) > self.limits.max_headers:
            raise _Refuse(431, f"more than {self.limits.max_headers} header fields")
        if len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers) > self.limits.max_head_bytes:
            raise _Refuse(431, "request header fields too large")
        self._in_head = False
        self._head_bytes = 0
        self._arm(self.limits.body_timeout, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # Answered before its body arrived (a 401, a 413): the rest is not worth reading.
            self._linger()


def protocol_class(limits: HttpLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for uvicorn's `http=` option with `limits` bound."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
