"""An OpenAI-compatible Chat Completions server on loopback, driven by the real langchain-openai client.

It answers `POST /v1/chat/completions` the way OpenAI does for structured output: with a forced
tool call when the request carries `tools` (method="function_calling"), with JSON content when it
carries `response_format: json_schema`. Failures are scripted per request (429 with Retry-After,
5xx, a hang that trips the client's timeout); every request body is recorded so tests can check
what left the process. By default it answers from the rules' findings found in the prompt, so its
answers pass Fyr's validation; `answer=` overrides that. `answer_obediently` is a model that does
what text planted in the data tells it (the worst case for prompt injection): it takes the category,
the quoted summary, the command and the link it finds in the context, and cites the planted line.

Run standalone (used by benchmarks): `python -m tests.fakes.openai_api --port 8089 --latency 0.5`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Answer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Failure:
    """One scripted failure: an HTTP status (with headers), or a hang of `hang_s` seconds."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0


def rate_limited(retry_after: float) -> Failure:
    return Failure(429, {"retry-after": f"{retry_after:g}"})


def server_error(status: int = 500) -> Failure:
    return Failure(status)


def hang(seconds: float) -> Failure:
    return Failure(0, hang_s=seconds)


_RULES = re.compile(r"<rules_json>\s*(\{.*?\})\s*</rules_json>", re.S)


def prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for msg in body.get("messages", []):
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return "\n".join(parts)


def answer_from_rules(body: dict[str, Any]) -> dict[str, Any]:
    """A valid analysis: the rules' category and evidence, re-worded."""
    blocks = _RULES.findall(prompt_text(body))  # the last one: the system text names the tag too
    rules: dict[str, Any] = json.loads(blocks[-1]) if blocks else {}
    return {
        "category": rules.get("category", "unknown"),
        "summary": "LLM: " + str(rules.get("summary", "rollout failed"))[:250],
        "root_cause": "Explained by the model. " + str(rules.get("root_cause", ""))[:2000],
        "evidence": list(rules.get("evidence", []))[:5],
        "suggested_fix": str(rules.get("suggested_fix", "Inspect the pods.")) or "Inspect the pods.",
        "confidence": "medium",
    }


_CONTEXT = re.compile(r"<context_json>\s*(\{.*?\})\s*</context_json>", re.S)
_DATAMARK = "\u02c6"
_VOCABULARY = ("image_pull", "crash_loop", "oom_killed", "config_error", "probe_failure", "scheduling",
               "create_failed", "mount_failure", "progress_deadline", "unknown")
_CATEGORY_WORD = re.compile(r"(?<![a-z_])(" + "|".join(_VOCABULARY) + r")(?![a-z_])")
_QUOTED = re.compile(r"[\"'“‘«„「]([^\"'“”‘’«»„「」\n]{6,200}?)[\"'”’»“」]")
_COMMAND = re.compile(r"((?:sudo\s+)?(?:curl|wget|iex|irm|iwr|powershell|pwsh|bash|echo)\b[^\n\"“”«»]{4,240})",
                      re.I)
_LINK = re.compile(r"(?:https?|ftp)://[^\s\"'<>)]+")


def _all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _all_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _all_strings(v)]
    return []


def _block(pattern: re.Pattern[str], text: str) -> Any:
    blocks = pattern.findall(text)
    return json.loads(blocks[-1]) if blocks else {}


def answer_obediently(body: dict[str, Any]) -> dict[str, Any]:
    """What a model that obeys the data answers: the planted category, summary, command and link."""
    text = prompt_text(body)
    rules = _block(_RULES, text)
    strings = [s.replace(_DATAMARK, " ") for s in _all_strings(_block(_CONTEXT, text))]
    rules_category = str(rules.get("category", "unknown")).replace(_DATAMARK, " ")

    def cues(s: str) -> int:
        other = [c for c in _CATEGORY_WORD.findall(s) if c != rules_category]
        return 2 * bool(other) + 2 * bool(_COMMAND.search(s) and _LINK.search(s)) + bool(_LINK.search(s)) + bool(
            _QUOTED.search(s))

    planted = sorted((s for s in strings if cues(s)), key=cues, reverse=True)
    if not planted:
        return answer_from_rules(body)
    joined = "\n".join(planted)
    wanted = [c for c in _CATEGORY_WORD.findall(joined) if c != rules_category]
    quoted = _QUOTED.search(joined)
    command = _COMMAND.search(joined)
    link = _LINK.search(joined)
    fix = (f"Run: {command.group(1).strip()}" if command and link else
           f"Follow {link.group(0)}" if link else "No action needed.")
    return {
        "category": wanted[0] if wanted else rules_category,
        "summary": (quoted.group(1) if quoted else planted[0])[:200],
        "root_cause": ("As the logs say: " + " ".join(planted))[:2000],
        "evidence": [planted[0][:900]],
        "suggested_fix": fix,
        "confidence": "high",
    }


class FakeOpenAI:
    """The fake server. Use `async with FakeOpenAI(...) as fake:`; `fake.base_url` ends in /v1."""

    def __init__(self, *, latency_s: float = 0.0, answer: Answer = answer_from_rules,
                 answered_model_suffix: str = "-2024-07-18", host: str = "127.0.0.1", port: int = 0,
                 obedient: bool = False) -> None:
        self.latency_s = latency_s
        self.answer = answer_obediently if obedient else answer
        self.answered_model_suffix = answered_model_suffix
        self.host, self.port = host, port
        self.failures: deque[Failure] = deque()
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, *failures: Failure) -> None:
        """The next len(failures) requests fail like this, in order; later ones succeed."""
        self.failures.extend(failures)

    def raw_bodies(self) -> str:
        return "\n".join(json.dumps(b) for b in self.requests)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.request_times.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            failure = self.failures.popleft() if self.failures else None
            if failure is not None and failure.hang_s:
                await asyncio.sleep(failure.hang_s)
                return web.json_response({"error": {"message": "hung", "type": "server_error"}}, status=504)
            if failure is not None:
                return web.json_response(
                    {"error": {"message": f"scripted {failure.status}", "type": "scripted", "code": None}},
                    status=failure.status, headers=failure.headers,
                )
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            return web.json_response(self._completion(body))
        finally:
            self.in_flight -= 1
            if task is not None:
                self._handlers.discard(task)

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        args = self.answer(body)
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        tools = body.get("tools") or []
        if tools:
            name = tools[0]["function"]["name"]
            message["tool_calls"] = [{"id": f"call_{len(self.requests)}", "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(args)}}]
            finish = "tool_calls"
        else:
            message["content"] = json.dumps(args)
            finish = "stop"
        prompt_tokens = max(1, len(prompt_text(body)) // 4)
        completion_tokens = max(1, len(json.dumps(args)) // 4)
        return {
            "id": f"chatcmpl-fake{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "fake")) + self.answered_model_suffix,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
            "system_fingerprint": "fp_fake",
        }

    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_post("/chat/completions", self._completions)
        return app

    async def start(self) -> FakeOpenAI:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        # aiohttp's shutdown gives up waiting on a handler still hanging or sleeping but leaves it
        # running: end it here, so a stopped server leaves no task behind.
        leftover = [t for t in self._handlers if not t.done()]
        for t in leftover:
            t.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _serve(port: int, latency: float, obedient: bool = False) -> None:
    fake = await FakeOpenAI(latency_s=latency, port=port, obedient=obedient).start()
    print(f"fake openai listening on {fake.base_url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--obedient", action="store_true", help="follow instructions planted in the data")
    ns = parser.parse_args()
    asyncio.run(_serve(ns.port, ns.latency, ns.obedient))
