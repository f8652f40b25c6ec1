"""Attacks on the HTTP layer every Fyr server shares (fyr.http_guard), over real loopback sockets.

Each test reproduces one red-team finding against the real uvicorn server: oversized and numerous
headers, a long request line, clients trickling their head or body, idle sockets filling the
connection cap, and (as a subprocess) the unauthenticated header flood measured by RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fyr.db.engine import Database
from fyr.http_guard import HttpLimits
from fyr.services.gitlab_ingestor.main import run_ingestor
from tests.integration.ingestor.ingestor_helpers import (
    DELIVERIES,
    ROUTING,
    SECRET,
    make_settings,
    post,
    real_ingestor,
    rss_mb,
)

pytestmark = pytest.mark.timeout(90)
PIPELINE = DELIVERIES["pipeline_running.json"]
FAST = HttpLimits(head_timeout=1.0, body_timeout=1.5, keep_alive_timeout=1, max_connections=50)


@contextlib.asynccontextmanager
async def ingestor(db: Database, limits: HttpLimits = FAST) -> AsyncIterator[int]:
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(run_ingestor(
        settings=make_settings(), db=db, host="127.0.0.1", port=0, stop=stop, routing=ROUTING,
        on_listening=lambda _h, port: bound.set_result(port), http_limits=limits))
    try:
        yield await asyncio.wait_for(bound, 10)
    finally:
        stop.set()
        await asyncio.wait_for(server, 20)


async def _exchange(port: int, data: bytes) -> bytes:
    """Send `data` (as much as the server takes) and return what it answered before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        return b""
    finally:
        writer.close()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


async def test_one_megabyte_header_is_431(database: Database) -> None:
    async with ingestor(database) as port:
        answer = await _exchange(port, b"POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Big: "
                                 + b"a" * (1024 * 1024) + b"\r\n\r\n")
    assert _status(answer) == 431


async def test_two_thousand_headers_are_431(database: Database) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    async with ingestor(database) as port:
        answer = await _exchange(port, b"POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert _status(answer) == 431


async def test_long_request_line_is_414(database: Database) -> None:
    async with ingestor(database) as port:
        answer = await _exchange(port, b"GET /healthz?" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _status(answer) == 414


async def test_ordinary_requests_and_keep_alive_still_work(database: Database) -> None:
    async with ingestor(database) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await post(client, PIPELINE)).json() == {"status": "accepted"}
        for _ in range(3):  # one connection, several requests
            assert (await client.get("/healthz")).status_code == 200


async def _trickle(port: int, data: bytes, every: float, closed: dict[str, float], name: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        for i in range(len(data)):
            if reader.at_eof():
                break
            writer.write(data[i:i + 1])
            await writer.drain()
            await asyncio.sleep(every)
            if reader._buffer or reader.at_eof():  # type: ignore[attr-defined]
                break
        await asyncio.wait_for(reader.read(), 30)
    except (TimeoutError, ConnectionError):
        pass
    finally:
        closed[name] = time.monotonic() - started
        writer.close()


async def test_trickling_heads_and_bodies_and_silent_sockets_are_closed(database: Database) -> None:
    head = (b"POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Pipeline Hook\r\n"
            b"X-Gitlab-Token: " + SECRET.encode() + b"\r\nContent-Length: 5000\r\n\r\n")
    closed: dict[str, float] = {}
    async with ingestor(database) as port:
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        started = time.monotonic()
        trickles = [_trickle(port, head + b"{" * 5000, 0.05, closed, f"head{i}") for i in range(10)]
        body_writers = []
        for _ in range(5):  # whole head at once, then the body a byte at a time
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            body_writers.append((reader, writer))

        async def body_trickle(i: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            t0 = time.monotonic()
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                for _ in range(200):
                    if reader.at_eof():
                        break
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(0.05)
                await asyncio.wait_for(reader.read(), 30)
            closed[f"body{i}"] = time.monotonic() - t0
            writer.close()

        await asyncio.gather(*trickles, *(body_trickle(i, r, w) for i, (r, w) in enumerate(body_writers)))
        for i, (reader, writer) in enumerate(silent):
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(reader.read(), 30)
            closed[f"silent{i}"] = time.monotonic() - started
            writer.close()
    assert len(closed) == 20
    # Deadlines (1 s head, 1.5 s body) rather than idle timers: trickling gains nothing.
    assert max(v for k, v in closed.items() if k.startswith("head")) < 5
    assert max(v for k, v in closed.items() if k.startswith("body")) < 5
    assert max(v for k, v in closed.items() if k.startswith("silent")) < 5


async def test_idle_sockets_cannot_lock_out_a_genuine_delivery(database: Database) -> None:
    # uvicorn's limit_concurrency counted these sockets: 1,000 idle ones answered GitLab with 503.
    async with ingestor(database, HttpLimits()) as port:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(1100)]
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            answer = await post(client, PIPELINE)
        for _, writer in idle:
            writer.close()
    assert answer.json() == {"status": "accepted"}


async def test_token_is_refused_before_a_trickled_body_is_waited_for(database: Database) -> None:
    head = (b"POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Pipeline Hook\r\n"
            b"X-Gitlab-Token: wrong\r\nContent-Length: 25000000\r\n\r\n")
    async with ingestor(database, HttpLimits(body_timeout=30)) as port:
        started = time.monotonic()
        answer = await _exchange(port, head)
    assert _status(answer) == 401
    assert time.monotonic() - started < 5


async def _flood(port: int, megabytes: int) -> None:
    """Stream `megabytes` of header lines without ever ending the head (no token)."""
    with contextlib.suppress(ConnectionError, OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\n")
        line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
        chunk = line * 64
        for _ in range(megabytes * 1024 * 1024 // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        writer.close()


@pytest.mark.timeout(120)
async def test_header_flood_keeps_a_real_ingestor_small_and_healthy(tmp_path: Path) -> None:
    async with (real_ingestor(tmp_path) as (port, pid),
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client):
        before = rss_mb(pid)
        peak = before
        flood = asyncio.gather(*(_flood(port, 128) for _ in range(8)))
        while not flood.done():
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.05)
        await flood
        assert (await client.get("/healthz")).status_code == 200
        assert (await post(client, PIPELINE)).json() == {"status": "accepted"}
    # Before the guard: ~1.1 GB for 8 connections. Now each is cut at 32 KiB of head.
    assert peak - before < 50, (before, peak)


async def test_idle_keep_alive_connection_is_closed_after_its_timeout(database: Database) -> None:
    async with ingestor(database) as port:  # keep_alive_timeout=1
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 10)
        started = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 10)  # EOF when the server closes
        writer.close()
    assert _status(first) == 200 and rest == b""
    assert time.monotonic() - started < 4
