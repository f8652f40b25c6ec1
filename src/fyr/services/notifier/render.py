"""Pure rendering of Fyr's Slack messages: Block Kit, text fallback, metadata, console text.

Everything that comes from outside Fyr (log lines, commit and MR text, failure messages, even the
LLM's answer) is *untrusted*: it is escaped (`&`, `<`, `>` — the only characters Slack decodes,
docs/wire-formats.md 'Escaping and mentions') so that it can never ping `@channel`, a user, or forge a `<url|label>`
link. Links Fyr builds itself use `<url|label>` with a validated http(s) URL. Block Kit limits (B4) are
respected by truncating *after* escaping, never inside an entity, with a visible marker, so Slack
never answers `invalid_blocks` or `msg_too_long` because of what a log happened to contain.
Fences, invisible format characters and link hosts are handled by `sanitize.py` (see there why).
No I/O here: the notifier's main loop builds a `MessageView` from rows and posts what this returns.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fyr.core.redaction import ANSI_ESCAPE
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.rollout import Rollout
from fyr.services.notifier.sanitize import inline_code_safe, link_host_allowed, neutralise_fences, strip_invisible

EVENT_TYPE = "fyr_rollout"  # Slack message metadata: how slack_client finds Fyr's message again
TRUNCATED = "… [truncated]"

# Slack Block Kit limits (docs/wire-formats.md 'Block Kit limits', mirrored in slack_sdk.models.blocks).
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
    history_url: str | None = None  # the rollout's history page when FYR_PUBLIC_URL is set
    incident: IncidentView | None = None  # the incident's state when the message is edited in place
    buttons: bool = False  # Slack interactivity is on: re-analyse, mute and roll back buttons
    # Hosts a link may point to (the configured GitLab hosts); None: no host policy (offline use).
    link_hosts: frozenset[str] | None = None
    kind: str = "Deployment"  # the workload's kind: Deployment, StatefulSet or DaemonSet
    flags: tuple[str, ...] = ()  # Fyr's own words: possible prompt injection, a field replaced...


@dataclass(frozen=True)
class IncidentView:
    """What the top message says at a glance: failed → recovered / fixed / superseded, repeats, mute."""

    state: str = "failed"  # failed | recovered | fixed | superseded
    at: datetime | None = None
    by_generation: int | None = None
    by_commit: str | None = None
    repeats: int = 0
    last_repeat_at: datetime | None = None
    muted_until: datetime | None = None
    muted_by: str | None = None


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
    always reaches Slack with what is known (docs/architecture.md 'The database is the queue').
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
    flags_raw = data.get("flags")
    flags_raw = flags_raw if isinstance(flags_raw, list) else []
    flags = tuple(str(f.get("message")) for f in flags_raw[:5] if isinstance(f, dict) and f.get("message"))
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
        flags=flags,
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
    """Drop terminal escapes, control and invisible format characters (keeps newlines and tabs)."""
    return strip_invisible(_CONTROL.sub("", ANSI_ESCAPE.sub("", text)))


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
    """Untrusted text → cleaned, fences neutralised, escaped, truncated mrkdwn."""
    return truncate_escaped(escape(neutralise_fences(clean(text or ""))), limit)


def code(text: str | None, limit: int) -> str:
    """Untrusted text as inline code: no backtick inside can end the span."""
    return f"`{inline_code_safe(safe(text, limit))}`"


def safe_url(url: str | None, hosts: frozenset[str] | None = None) -> str | None:
    """A URL Fyr may put inside `<url|label>`: http(s) only, no userinfo, no whitespace, a host in
    `hosts` (when given), `|<>` percent-encoded."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_MAX or any(ch.isspace() or ord(ch) < 0x20 for ch in url) or strip_invisible(url) != url:
        return None
    if not link_host_allowed(url, hosts):
        return None
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")


def link(url: str | None, label: str, hosts: frozenset[str] | None = None) -> str:
    """`<url|label>` for a vetted URL, else the escaped label alone (never a link we did not vet)."""
    good = safe_url(url, hosts)
    label_s = safe(label, 200).replace("|", "¦")
    if good is None:
        return label_s
    return f"<{good}|{label_s}>"


def commit_url(view: MessageView) -> str | None:
    """GitLab commit URL from the pipeline URL's host and the project path, when both are known."""
    if not view.commit or not view.git_project or not re.fullmatch(r"[0-9a-fA-F]{7,64}", view.commit):
        return None
    base = safe_url(view.pipeline_url, view.link_hosts) or safe_url(view.mr_url, view.link_hosts)
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
    body = "\n".join(escape(neutralise_fences(clean(line))) for line in lines)
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
        items.append(f"Commit {link(url, label, view.link_hosts)}" if url else f"Commit {code(label, 64)}")
    for url, label in ((view.pipeline_url, "Pipeline"), (view.mr_url, "Merge request")):
        if safe_url(url, view.link_hosts):
            items.append(link(url, label, view.link_hosts))
        elif url:
            items.append(f"{label} (link withheld: not a configured GitLab host)")
    if view.git_project:
        items.append(f"Project {code(view.git_project, 200)}")
    if safe_url(view.history_url, view.link_hosts):
        items.append(link(view.history_url, "Open in Fyr", view.link_hosts))
    return " · ".join(items)


# --- messages ----------------------------------------------------------------------------------


_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


def _clock(at: datetime | None) -> str:
    return f" at {at:%Y-%m-%d %H:%M} UTC" if at else ""


def _header(view: MessageView) -> str:
    where = ("" if view.kind == "Deployment" else f"{view.kind} ") + f"{view.namespace}/{view.deployment}"
    inc = view.incident
    if inc is None or inc.state == "failed":
        return f"🔴 Rollout failed: {where}"
    if inc.state == "recovered":
        return f"✅ Recovered: {where}"
    if inc.state == "fixed":
        return f"✅ Fixed by generation {inc.by_generation}: {where}"
    return f"⏭️ Superseded by generation {inc.by_generation}: {where}"


def _incident_lines(view: MessageView) -> list[str]:
    """The state under the header: when it changed and by what, the repeat counter, the mute."""
    inc = view.incident
    if inc is None:
        return []
    lines = []
    commit = f" (commit `{safe(inc.by_commit[:12], 20)}`)" if inc.by_commit else ""
    if inc.state == "recovered":
        lines.append(f"*Recovered*{_clock(inc.at)}: generation {view.generation} rolled out after all.")
    elif inc.state == "fixed":
        lines.append(f"*Fixed* by generation {inc.by_generation}{commit}{_clock(inc.at)}.")
    elif inc.state == "superseded":
        lines.append(f"*Superseded* by generation {inc.by_generation}{commit}{_clock(inc.at)} while still failing.")
    if inc.repeats:
        times = inc.repeats + 1
        lines.append(f"🔁 Seen {times} times, last{_clock(inc.last_repeat_at)[3:] or ' recently'}.")
    if inc.muted_until is not None:
        who = f"<@{inc.muted_by}>" if inc.muted_by and _USER_ID.match(inc.muted_by) else safe(inc.muted_by, 64)
        lines.append(f"🔕 Muted by {who} until {inc.muted_until:%Y-%m-%d %H:%M} UTC: "
                     "new failures of this workload go quietly into this thread.")
    return lines


def _buttons(view: MessageView) -> dict[str, Any]:
    value = str(view.rollout_id)
    muted = view.incident is not None and view.incident.muted_until is not None
    elements: list[dict[str, Any]] = [
        {"type": "button", "action_id": "fyr_reanalyse", "value": value,
         "text": {"type": "plain_text", "text": "Re-analyse"}},
        {"type": "button", "action_id": "fyr_unmute" if muted else "fyr_mute", "value": value,
         "text": {"type": "plain_text", "text": "Unmute" if muted else "Mute 24 h"}},
        {"type": "button", "action_id": "fyr_rollback", "value": value,
         "text": {"type": "plain_text", "text": "Roll back"}},
    ]
    return {"type": "actions", "block_id": f"fyr_actions_{view.rollout_id}", "elements": elements}


def render_failure(view: MessageView) -> RenderedMessage:
    """The top-level message for a failed rollout (docs/architecture.md 'Notification'), as first posted or as edited
    later in place when its incident changed."""
    blocks: list[dict[str, Any]] = []
    blocks.append({"type": "header", "text": _plain(_header(view), HEADER_MAX)})
    state = _incident_lines(view)
    if state:
        blocks.append(_section("\n".join(state)))
    if view.fallback_note:
        blocks.append(_section(f":warning: {safe(view.fallback_note, 500)}"))
    gen = f"{view.generation}" + (f" (revision {view.revision})" if view.revision is not None else "")
    pairs = [
        (view.kind, code(f"{view.cluster}/{view.namespace}/{view.deployment}", 600)),
        ("Generation", gen),
        ("Image", code(view.image, 900) if view.image else "_unknown_"),
        ("Status", f"{safe(view.status, 40)}" + (f" — {safe(view.failure_reason, 200)}"
                                                 if view.failure_reason else "")),
    ]
    if view.category:
        conf = f" ({safe(view.confidence, 20)} confidence)" if view.confidence else ""
        pairs.append(("Category", f"{code(view.category, 60)}{conf}"))
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
        head = "*Evidence* (quoted from the cluster's logs and events)\n"
        blocks.append(_section(head + _code_block(view.evidence, 2990 - len(head))))
    if view.suggested_fix and not view.analysis_missing:
        blocks.append(_section(f"*Suggested fix*\n{safe(view.suggested_fix, 2900)}"))
    if view.flags:
        blocks.append(_section("\n".join(f":warning: {safe(f, 500)}" for f in view.flags)))
    authored = _authored_by(view)
    if authored:
        blocks.append(_context([authored]))
    links = _links(view)
    if links:
        blocks.append(_section(links))
    if view.buttons and (view.incident is None or view.incident.state == "failed"):
        blocks.append(_buttons(view))
    blocks.append(_context(_context_parts(view)))
    return RenderedMessage(text=_failure_text(view), blocks=_fit(blocks), metadata=_metadata(view, "failure"))


def _authored_by(view: MessageView) -> str | None:
    """Whose words the summary, root cause and fix are: a model's are labelled as such."""
    if view.analysis_missing or not view.model_name or view.model_name == "rules":
        return None
    return (f"Summary, root cause and fix suggested by {safe(view.model_name, 100)} (a language model) "
            "from the evidence; check before acting")


def _failure_text(view: MessageView) -> str:
    head = _header(view).split(" ", 1)[1].split(":", 1)[0] + f": {_where(view)} generation {view.generation}"
    detail = view.summary or view.failure_reason or view.status
    cat = f"[{safe(view.category, 60)}] " if view.category else ""
    text = safe(head, 800) + " — " + cat + safe(detail, 1200)
    if view.fallback_note:
        text += "\n" + safe(view.fallback_note, 500)
    if view.flags:
        text += "\n⚠ " + safe(view.flags[0], 500)
    return truncate_escaped(text, TEXT_MAX)


def render_repeat(view: MessageView) -> RenderedMessage:
    """Thread reply: the same deployment failed again with the same failure signature."""
    rev = f", revision {view.revision}" if view.revision is not None else ""
    line = (f"🔁 Failed again, same cause — generation {view.generation}{rev}"
            + (f", image {code(view.image, 900)}" if view.image else ""))
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
    line = f"✅ Recovered: generation {view.generation} of {code(_where(view), 600)} rolled out{when}."
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
