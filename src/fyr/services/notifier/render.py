"""Pure rendering of Fyr's Slack messages: Block Kit, text fallback, metadata, console text.

Everything that comes from outside Fyr (log lines, commit and MR text, failure messages, even the
LLM's answer) is *untrusted*: it is escaped (`&`, `<`, `>` — the only characters Slack decodes,
WIRE-FORMATS B5) so that it can never ping `@channel`, a user, or forge a `<url|label>` link. Links
Fyr builds itself use `<url|label>` with a validated http(s) URL. Block Kit limits (B4) are
respected by truncating *after* escaping, never inside an entity, with a visible marker, so Slack
never answers `invalid_blocks` or `msg_too_long` because of what a log happened to contain.
No I/O here: the notifier's main loop builds a `MessageView` from rows and posts what this returns.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.rollout import Rollout

EVENT_TYPE = "fyr_rollout"
TRUNCATED = "… [truncated]"

# Slack Block Kit limits (WIRE-FORMATS B4, mirrored in slack_sdk.models.blocks).
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
FIELDS_PER_SECTION = 10
CONTEXT_ELEMENTS_MAX = 10
BLOCKS_MAX = 50
URL_MAX = 3000
# `msg_blocks_too_long` was observed near 13k characters of combined block text (B2, [S10]):
# stay well below it.
BLOCKS_TOTAL_BUDGET = 11_000
# Top-level `text` is the notification fallback; Slack's guidance is about 4,000 characters.
TEXT_MAX = 3000
EVIDENCE_LINES_MAX = 20

_ENTITY_TAIL = re.compile(r"&[a-z]{0,3}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(frozen=True)
class MessageView:
    """Everything a message shows, as plain data (no ORM objects past this point)."""

    rollout_id: int
    cluster: str
    namespace: str
    deployment: str
    generation: int
    status: str
    revision: int | None = None
    image: str | None = None
    failure_reason: str | None = None
    failure_message: str | None = None
    failed_at: datetime | None = None
    completed_at: datetime | None = None
    category: str | None = None
    summary: str | None = None
    root_cause: str | None = None
    evidence: tuple[str, ...] = ()
    suggested_fix: str | None = None
    confidence: str | None = None
    git_project: str | None = None
    commit: str | None = None
    pipeline_url: str | None = None
    mr_url: str | None = None
    team: str | None = None
    model_name: str | None = None
    prompt_version: str | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    analysis_missing: bool = False
    analysis_error: str | None = None
    fallback_note: str | None = None
    kind: str = "Deployment"  # the workload's kind: Deployment, StatefulSet or DaemonSet


@dataclass(frozen=True)
class RenderedMessage:
    """What `chat.postMessage` gets: `text` (fallback, always sent), `blocks`, `metadata`."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


# --- building the view --------------------------------------------------------------------------


def view_from_rows(
    rollout: Rollout,
    analysis: Analysis | dict[str, Any] | None = None,
    metric: AnalysisMetric | None = None,
) -> MessageView:
    """A `MessageView` from a Rollout row, its Analysis row (or the bare analysis JSON) and metrics.

    A missing or unreadable analysis gives a view with `analysis_missing=True`: a failed rollout
    always reaches Slack with what is known (ARCHITECTURE §3).
    """
    data: dict[str, Any] | None
    model_name: str | None = None
    prompt_version: str | None = None
    if isinstance(analysis, Analysis):
        data = analysis.analysis if isinstance(analysis.analysis, dict) else None
        model_name, prompt_version = analysis.model_name, analysis.prompt_version
    else:
        data = analysis
    data = data or {}
    evidence_raw = data.get("evidence") or []
    evidence = tuple(str(e) for e in evidence_raw[:EVIDENCE_LINES_MAX]) if isinstance(
        evidence_raw, list) else (str(evidence_raw),)
    tokens = cost = None
    if metric is not None:
        tokens = (metric.tokens_in or 0) + (metric.tokens_out or 0)
        cost = metric.cost_usd
        model_name = model_name or metric.model_name
    missing = not data.get("summary") and not data.get("root_cause")
    return MessageView(
        rollout_id=rollout.id,
        cluster=rollout.cluster,
        namespace=rollout.namespace,
        deployment=rollout.deployment,
        kind=rollout.kind or "Deployment",
        generation=rollout.generation,
        status=str(rollout.status),
        revision=rollout.revision,
        image=rollout.image,
        failure_reason=rollout.failure_reason,
        failure_message=rollout.failure_message,
        failed_at=rollout.failed_at,
        completed_at=rollout.completed_at,
        category=_opt_str(data.get("category")),
        summary=_opt_str(data.get("summary")),
        root_cause=_opt_str(data.get("root_cause")),
        evidence=evidence,
        suggested_fix=_opt_str(data.get("suggested_fix")),
        confidence=_opt_str(data.get("confidence")),
        git_project=rollout.git_project,
        commit=rollout.git_commit,
        pipeline_url=rollout.pipeline_url,
        mr_url=rollout.mr_url,
        team=rollout.team,
        model_name=model_name or _opt_str(data.get("model_name")),
        prompt_version=prompt_version or _opt_str(data.get("prompt_version")),
        tokens=tokens,
        cost_usd=cost,
        analysis_missing=missing,
        analysis_error=rollout.analysis_error if missing else None,
    )


def with_fallback_note(view: MessageView, note: str) -> MessageView:
    return dataclasses.replace(view, fallback_note=note)


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# --- escaping, truncation, links ---------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's three control characters, ampersand first (B5). Nothing else is encoded."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clean(text: str) -> str:
    """Drop terminal escapes and control characters (keeps newlines and tabs)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def truncate_escaped(text: str, limit: int, marker: str = TRUNCATED) -> str:
    """Cut already-escaped text to `limit` characters, never inside an `&…;` entity."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(marker))]
    tail = _ENTITY_TAIL.search(cut)
    if tail is not None:
        cut = cut[: tail.start()]
    return cut + marker


def safe(text: str | None, limit: int) -> str:
    """Untrusted text → escaped, cleaned, truncated mrkdwn."""
    return truncate_escaped(escape(clean(text or "")), limit)


def safe_url(url: str | None) -> str | None:
    """A URL Fyr may put inside `<url|label>`: http(s) only, no whitespace, `|<>` percent-encoded."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_MAX or any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")


def link(url: str | None, label: str) -> str:
    """`<url|label>` for a valid URL, else the escaped label alone (never a link we did not vet)."""
    good = safe_url(url)
    label_s = safe(label, 200).replace("|", "¦")
    if good is None:
        return label_s
    return f"<{good}|{label_s}>"


def commit_url(view: MessageView) -> str | None:
    """GitLab commit URL from the pipeline URL's host and the project path, when both are known."""
    if not view.commit or not view.git_project or not re.fullmatch(r"[0-9a-fA-F]{7,64}", view.commit):
        return None
    base = safe_url(view.pipeline_url) or safe_url(view.mr_url)
    if base is None:
        return None
    parts = urlsplit(base)
    project = view.git_project.strip("/")
    if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", project):
        return None
    return f"{parts.scheme}://{parts.netloc}/{project}/-/commit/{view.commit}"


# --- block helpers -----------------------------------------------------------------------------


def _plain(text: str, limit: int) -> dict[str, Any]:
    # plain_text never pings or links; escaping keeps it consistent should Slack decode entities.
    return {"type": "plain_text", "text": safe(text, limit) or " ", "emoji": True}


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate_escaped(mrkdwn, SECTION_TEXT_MAX)}}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    fields = [
        {"type": "mrkdwn", "text": truncate_escaped(f"*{k}*\n{v}", FIELD_MAX)}
        for k, v in pairs[:FIELDS_PER_SECTION]
    ]
    return {"type": "section", "fields": fields}


def _context(parts: list[str]) -> dict[str, Any]:
    text = " · ".join(p for p in parts if p)
    return {"type": "context",
            "elements": [{"type": "mrkdwn", "text": truncate_escaped(text or " ", SECTION_TEXT_MAX)}]}


def _code_block(lines: tuple[str, ...] | list[str], limit: int) -> str:
    """Lines in a ``` fence; escaped; a ``` inside a log line cannot close the fence early."""
    fence = "```"
    body = "\n".join(escape(clean(line)).replace("```", "ʼʼʼ") for line in lines)
    body = truncate_escaped(body, max(10, limit - 2 * len(fence) - 2))
    return f"{fence}\n{body}\n{fence}"


def _block_text_len(block: dict[str, Any]) -> int:
    n = 0
    text = block.get("text")
    if isinstance(text, dict):
        n += len(str(text.get("text", "")))
    for f in block.get("fields", []) or []:
        n += len(str(f.get("text", "")))
    for e in block.get("elements", []) or []:
        if isinstance(e, dict):
            n += len(str(e.get("text", "")))
    return n


def _fit(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """≤ 50 blocks and ≤ the combined text budget: shrink the largest sections first, keep the
    header (first) and context (last) blocks intact."""
    if len(blocks) > BLOCKS_MAX:
        blocks = [*blocks[: BLOCKS_MAX - 1], blocks[-1]]
    total = sum(_block_text_len(b) for b in blocks)
    while total > BLOCKS_TOTAL_BUDGET:
        idx = max(range(1, len(blocks) - 1), key=lambda i: _block_text_len(blocks[i]), default=None)
        if idx is None:
            break
        block = blocks[idx]
        if "text" not in block or not isinstance(block["text"], dict):
            break
        current = block["text"]["text"]
        target = max(200, len(current) - (total - BLOCKS_TOTAL_BUDGET))
        if target >= len(current):
            break
        shrunk = truncate_escaped(current, target)
        if current.rstrip().endswith("```") and not shrunk.endswith("```"):
            shrunk = truncate_escaped(current, target - 4) + "\n```"
        block["text"]["text"] = shrunk
        total = sum(_block_text_len(b) for b in blocks)
    return blocks


def _metadata(view: MessageView, kind: str) -> dict[str, Any]:
    return {
        "event_type": EVENT_TYPE,
        "event_payload": {
            "rollout_id": view.rollout_id,
            "kind": kind,
            "cluster": view.cluster,
            "namespace": view.namespace,
            "deployment": view.deployment,
            "workload_kind": view.kind,
            "generation": view.generation,
        },
    }


def _where(view: MessageView) -> str:
    where = f"{view.cluster}/{view.namespace}/{view.deployment}"
    return where if view.kind == "Deployment" else f"{view.kind} {where}"


def _context_parts(view: MessageView) -> list[str]:
    parts = []
    if view.model_name:
        parts.append(f"model {safe(view.model_name, 100)}")
    if view.prompt_version:
        parts.append(f"prompt {safe(view.prompt_version, 100)}")
    if view.tokens:
        parts.append(f"{view.tokens:,} tokens")
    if view.cost_usd:
        parts.append(f"${view.cost_usd:.4f}")
    parts.append(f"rollout #{view.rollout_id}")
    return parts


def _links(view: MessageView) -> str:
    items = []
    if view.commit:
        label = view.commit[:12]
        url = commit_url(view)
        items.append(f"Commit {link(url, label)}" if url else f"Commit `{safe(label, 64)}`")
    if safe_url(view.pipeline_url):
        items.append(link(view.pipeline_url, "Pipeline"))
    if safe_url(view.mr_url):
        items.append(link(view.mr_url, "Merge request"))
    if view.git_project:
        items.append(f"Project `{safe(view.git_project, 200)}`")
    return " · ".join(items)


# --- messages ----------------------------------------------------------------------------------


def render_failure(view: MessageView) -> RenderedMessage:
    """The top-level message for a failed rollout (ARCHITECTURE §6)."""
    blocks: list[dict[str, Any]] = []
    blocks.append({"type": "header",
                   "text": _plain(f"🔴 Rollout failed: {'' if view.kind == 'Deployment' else view.kind + ' '}"
                                  f"{view.namespace}/{view.deployment}", HEADER_MAX)})
    if view.fallback_note:
        blocks.append(_section(f":warning: {safe(view.fallback_note, 500)}"))
    gen = f"{view.generation}" + (f" (revision {view.revision})" if view.revision is not None else "")
    pairs = [
        (view.kind, f"`{safe(f'{view.cluster}/{view.namespace}/{view.deployment}', 600)}`"),
        ("Generation", gen),
        ("Image", f"`{safe(view.image, 900)}`" if view.image else "_unknown_"),
        ("Status", f"{safe(view.status, 40)}" + (f" — {safe(view.failure_reason, 200)}"
                                                 if view.failure_reason else "")),
    ]
    if view.category:
        conf = f" ({safe(view.confidence, 20)} confidence)" if view.confidence else ""
        pairs.append(("Category", f"`{safe(view.category, 60)}`{conf}"))
    if view.team:
        pairs.append(("Team", safe(view.team, 200)))
    blocks.append(_fields(pairs))
    if view.analysis_missing:
        why = f": {safe(view.analysis_error, 500)}" if view.analysis_error else ""
        blocks.append(_section(f"*Analysis unavailable*{why}. Showing what Kubernetes reported."))
        if view.failure_message:
            blocks.append(_section("*Failure message*\n" + _code_block([view.failure_message], 2800)))
    else:
        if view.summary:
            blocks.append(_section(f"*Summary*\n{safe(view.summary, 600)}"))
        if view.root_cause:
            blocks.append(_section(f"*Root cause*\n{safe(view.root_cause, 2900)}"))
    if view.evidence:
        blocks.append(_section("*Evidence*\n" + _code_block(view.evidence, 2980)))
    if view.suggested_fix and not view.analysis_missing:
        blocks.append(_section(f"*Suggested fix*\n{safe(view.suggested_fix, 2900)}"))
    links = _links(view)
    if links:
        blocks.append(_section(links))
    blocks.append(_context(_context_parts(view)))
    return RenderedMessage(text=_failure_text(view), blocks=_fit(blocks), metadata=_metadata(view, "failure"))


def _failure_text(view: MessageView) -> str:
    head = f"Rollout failed: {_where(view)} generation {view.generation}"
    detail = view.summary or view.failure_reason or view.status
    cat = f"[{safe(view.category, 60)}] " if view.category else ""
    text = safe(head, 800) + " — " + cat + safe(detail, 1200)
    if view.fallback_note:
        text += "\n" + safe(view.fallback_note, 500)
    return truncate_escaped(text, TEXT_MAX)


def render_repeat(view: MessageView) -> RenderedMessage:
    """Thread reply: the same deployment failed again with the same failure signature."""
    rev = f", revision {view.revision}" if view.revision is not None else ""
    line = (f"🔁 Failed again, same cause — generation {view.generation}{rev}"
            + (f", image `{safe(view.image, 900)}`" if view.image else ""))
    blocks = [_section(line)]
    if view.fallback_note:
        blocks.append(_section(f":warning: {safe(view.fallback_note, 500)}"))
    if view.failure_reason:
        blocks.append(_section(f"Reason: {safe(view.failure_reason, 200)}"))
    links = _links(view)
    if links:
        blocks.append(_section(links))
    blocks.append(_context(_context_parts(view)))
    text = truncate_escaped(
        f"Failed again, same cause: {safe(_where(view), 800)} generation {view.generation}", TEXT_MAX)
    return RenderedMessage(text=text, blocks=_fit(blocks), metadata=_metadata(view, "repeat"))


def render_recovery(view: MessageView) -> RenderedMessage:
    """Thread reply: the rollout that failed has since completed."""
    when = f" at {view.completed_at:%Y-%m-%d %H:%M:%S} UTC" if view.completed_at else ""
    line = f"✅ Recovered: generation {view.generation} of `{safe(_where(view), 600)}` rolled out{when}."
    blocks = [_section(line), _context([f"rollout #{view.rollout_id}"])]
    text = truncate_escaped(f"Recovered: {safe(_where(view), 800)} generation {view.generation}", TEXT_MAX)
    return RenderedMessage(text=text, blocks=blocks, metadata=_metadata(view, "recovery"))


# --- console ------------------------------------------------------------------------------------

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]*)>")


def _unslack(text: str) -> str:
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _console_section(mrkdwn: str) -> str:
    """`*Title*` on its own line becomes `Title:`; a ``` code block becomes indented lines."""
    lines = mrkdwn.split("\n")
    out: list[str] = []
    indent = ""
    title = re.fullmatch(r"\*([^*]+)\*", lines[0])
    if title is not None and len(lines) > 1:
        out.append(f"{title.group(1)}:")
        lines, indent = lines[1:], "  "
    in_code = False
    for line in lines:
        if line.strip() == "```":
            in_code = not in_code
            continue
        out.append((indent + "  " if in_code else indent) + _unslack(line))
    return "\n".join(out)


def render_console(message: RenderedMessage, *, channel: str | None = None,
                   thread_ts: str | None = None) -> str:
    """Readable terminal text for the no-token mode: the blocks, unescaped, control chars removed."""
    out: list[str] = []
    if channel:
        out.append(f"── Slack message to {clean(channel)}" + (" (thread reply)" if thread_ts else "") + " ──")
    for block in message.blocks:
        kind = block.get("type")
        if kind == "header":
            title = _unslack(block["text"]["text"])
            out.extend([title, "=" * min(len(title), 78)])
        elif kind == "section":
            if isinstance(block.get("text"), dict):
                out.append(_console_section(block["text"]["text"]))
            for f in block.get("fields", []) or []:
                key, _, value = _unslack(f["text"]).partition("\n")
                out.append(f"{key.strip('*')}: {value}")
        elif kind == "context":
            out.append("  " + " ".join(_unslack(e.get("text", "")) for e in block.get("elements", [])))
    if not message.blocks:
        out.append(_unslack(message.text))
    return clean("\n".join(out))
