"""`fyr demo --preview DIR`: each message the demo sends, also written as an HTML page with Slack's look.

A sink that wraps the real one (the console, or Slack when a token is set): every message is
passed on unchanged, then rendered by `fyr.services.notifier.html` into `DIR/NN-channel.html`;
`index.html` links them all. Opening the folder in a browser shows what a team would see in Slack.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from fyr.services.notifier.html import page
from fyr.services.notifier.jobs import MessageSink
from fyr.services.notifier.render import RenderedMessage


class PreviewSink:
    def __init__(self, inner: MessageSink, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written: list[tuple[Path, str]] = []

    @property
    def timeout(self) -> float:
        return self.inner.timeout

    @property
    def paced(self) -> bool:
        """Paced only when the inner sink is (Slack); a preview over the console prints at once."""
        return self.inner.paced

    async def auth_test(self) -> dict[str, Any]:
        return await self.inner.auth_test()

    def channel_id(self, channel: str) -> str:
        return self.inner.channel_id(channel)

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None,
                   metadata: dict[str, Any] | None, thread_ts: str | None = None) -> tuple[str, str]:
        result = await self.inner.post(channel, text, blocks, metadata, thread_ts)
        message = RenderedMessage(text=text, blocks=list(blocks or []), metadata=metadata or {})
        slug = re.sub(r"[^a-z0-9]+", "-", channel.lower()).strip("-") or "channel"
        path = self.folder / f"{len(self.written) + 1:02d}-{slug}.html"
        path.write_text(page([(message, thread_ts is not None)], channel=channel, title=text[:120]),
                        encoding="utf-8")
        self.written.append((path, f"{channel}{' (thread reply)' if thread_ts else ''}: {text[:160]}"))
        return result

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None) -> None:
        await self.inner.update(channel, ts, text, blocks)
        message = RenderedMessage(text=text, blocks=list(blocks or []))
        slug = re.sub(r"[^a-z0-9]+", "-", channel.lower()).strip("-") or "channel"
        path = self.folder / f"{len(self.written) + 1:02d}-{slug}-updated.html"
        path.write_text(page([(message, False)], channel=channel, title=text[:120]), encoding="utf-8")
        self.written.append((path, f"{channel} (message {ts} updated in place): {text[:160]}"))

    async def find_message(self, channel: str, rollout_id: int, oldest: float, *, kind: str = "failure",
                           thread_ts: str | None = None) -> tuple[str, str] | None:
        return await self.inner.find_message(channel, rollout_id, oldest, kind=kind, thread_ts=thread_ts)

    async def close(self) -> None:
        await self.inner.close()

    def write_index(self) -> Path:
        items = "".join(f'<li><a href="{html.escape(p.name)}">{html.escape(label)}</a></li>'
                        for p, label in self.written)
        index = self.folder / "index.html"
        index.write_text("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Fyr demo messages"
                         "</title></head><body style=\"font:15px sans-serif;margin:2em\"><h1>Fyr demo: "
                         f"{len(self.written)} Slack message(s)</h1><ol>{items}</ol></body></html>\n",
                         encoding="utf-8")
        return index
