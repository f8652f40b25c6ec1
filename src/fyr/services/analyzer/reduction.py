"""The reduced context: megabytes of rollout evidence -> at most `budget_tokens` of JSON for the LLM.

What it holds (docs/architecture.md 'Analysis pipeline'): the rollout header, signals grouped across pods with counts,
events deduplicated with counts, the pod-template change new vs previous ReplicaSet, and per-log digests
(decisive lines with a little context, templates with counts, first and last lines). It is built from
a `RedactedBundle` only: everything in it was redacted on entry, once.

The budget is a hard limit, counted with cl100k_base over exactly the JSON that is sent
(`context_json`). When the evidence does not fit, the least useful parts go first, in a fixed order
of levels (see `_LEVELS`); the top decisive line is the last thing that can ever be dropped, and it
is cut, not dropped, when even the bare minimum does not fit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fyr.core.status import RolloutVerdict
from fyr.services.analyzer.redaction import RedactedBundle
from fyr.services.analyzer.rules import LogEvidence
from fyr.services.analyzer.signals import Signal, normalise
from fyr.services.analyzer.template_diff import template_diff
from fyr.services.analyzer.tokens import count_tokens, truncate_to_tokens

_NORMAL_EVENTS_KEPT = frozenset({"Killing", "BackOff", "Pulling"})
_TOP_LINE_CHARS = 2000


# Spotlighting by datamarking (Hines et al., 2024): every whitespace inside a data string becomes
# this character, so that no sentence of the data reads like the prompt's own.
DATAMARK = "\u02c6"
_WHITESPACE = re.compile(r"\s+")


def datamark(value: Any) -> Any:
    """Every string inside `value` with its whitespace runs replaced by DATAMARK (keys unchanged)."""
    if isinstance(value, str):
        return _WHITESPACE.sub(DATAMARK, value)
    if isinstance(value, dict):
        return {k: datamark(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [datamark(v) for v in value]
    return value


def context_json(context: Any, *, marked: bool = True) -> str:
    """The exact text the LLM receives for a data block (the chain sends this, the budget counts it).

    `marked`: datamarked, as the current prompt sends its data. `<` is escaped as `\\u003c` (still
    valid JSON) so that no log line can close a delimiting tag.
    """
    data = datamark(context) if marked else context
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=str).replace("<", "\\u003c")


def context_tokens(context: Mapping[str, Any]) -> int:
    """Tokens of the context as the current prompt sends it (`context_json`)."""
    return count_tokens(context_json(context))


@dataclass(frozen=True)
class _Level:
    """How much of each part to keep; `_LEVELS` goes from generous to bare."""

    name: str
    normal_events: bool = True
    events: int = 30
    signals: int = 15
    logs: int = 8
    decisive: int = 6
    context_lines: int = 6
    templates: int = 10
    first_lines: int = 5
    last_lines: int = 10
    line_chars: int = 500
    change: str = "full"  # full | brief | none
    conditions: bool = True


_FULL = _Level("full")
_LEVELS: tuple[_Level, ...] = (
    _FULL,
    replace(_FULL, name="no-normal-events", normal_events=False, templates=6, first_lines=3, last_lines=6),
    replace(_FULL, name="trim-templates", normal_events=False, templates=3, first_lines=2, last_lines=4,
            context_lines=4, events=20),
    replace(_FULL, name="no-templates", normal_events=False, templates=0, first_lines=0, last_lines=3,
            context_lines=3, events=15, logs=5, decisive=4, line_chars=400),
    replace(_FULL, name="decisive-only", normal_events=False, templates=0, first_lines=0, last_lines=2,
            context_lines=2, events=10, logs=4, decisive=3, signals=10, line_chars=300, change="brief"),
    replace(_FULL, name="lean", normal_events=False, templates=0, first_lines=0, last_lines=0,
            context_lines=1, events=6, logs=3, decisive=2, signals=6, line_chars=240, change="brief",
            conditions=False),
    replace(_FULL, name="minimal", normal_events=False, templates=0, first_lines=0, last_lines=0,
            context_lines=0, events=3, logs=2, decisive=1, signals=4, line_chars=200, change="none",
            conditions=False),
    replace(_FULL, name="bare", normal_events=False, templates=0, first_lines=0, last_lines=0,
            context_lines=0, events=0, logs=1, decisive=1, signals=2, line_chars=160, change="none",
            conditions=False),
)


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters; a long line keeps its start and its end (a chained error's cause)."""
    if len(text) <= limit:
        return text
    if limit < 40:
        return text[: limit - 1] + "…"
    head = limit // 3
    return text[:head] + " … " + text[-(limit - head - 3):]


def set_header(bundle: RedactedBundle, verdict: RolloutVerdict) -> dict[str, Any]:
    """A StatefulSet's stuck ordinal or a DaemonSet's failing nodes, and their own counts."""
    status = bundle.deployment.get("status") or {}
    out: dict[str, Any] = {"update_revision": verdict.new_replicaset}
    if bundle.workload_kind == "DaemonSet":
        out["replicas"] = {"desired": status.get("desiredNumberScheduled", 0),
                           "updated": status.get("updatedNumberScheduled", 0),
                           "ready": status.get("numberReady", 0), "available": status.get("numberAvailable", 0)}
        failing = sorted({str((p.get("spec") or {}).get("nodeName") or "") for p in bundle.pods
                          if not _pod_ready(p)} - {""})
        out["failing_nodes"] = failing[:20]
    elif verdict.decisive_pod:
        tail = verdict.decisive_pod.removeprefix(bundle.name + "-")
        if tail.isdigit():
            out["stuck_ordinal"] = int(tail)
    return out


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _header(bundle: RedactedBundle, verdict: RolloutVerdict, level: _Level) -> dict[str, Any]:
    dep = bundle.deployment
    status = dep.get("status") or {}
    spec = dep.get("spec") or {}
    out: dict[str, Any] = {
        "cluster": bundle.cluster,
        "namespace": bundle.namespace,
        "deployment": bundle.name,
        "kind": bundle.workload_kind,
        "generation": verdict.generation,
        "revision": verdict.revision,
        "status": verdict.status.value,
        "reason": verdict.reason,
        "message": _clip(verdict.message, level.line_chars),
        "image": verdict.image,
        "new_replicaset": verdict.new_replicaset,
        "replicas": {
            "desired": spec.get("replicas", 1),
            "updated": status.get("updatedReplicas", 0),
            "ready": status.get("readyReplicas", 0),
            "available": status.get("availableReplicas", 0),
        },
    }
    if bundle.workload_kind != "Deployment":
        del out["new_replicaset"]
        out.update(set_header(bundle, verdict))
    if verdict.decisive_pod:
        out["decisive"] = f"{verdict.decisive_pod}/{verdict.decisive_container or '?'}"
    if level.conditions:
        out["conditions"] = [
            {k: _clip(str(c[k]), level.line_chars) for k in ("type", "status", "reason", "message")
             if c.get(k) is not None}
            for c in status.get("conditions") or []
        ]
    return out


def _events(events: Sequence[Mapping[str, Any]], level: _Level) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for ev in events:
        etype = str(ev.get("type") or "Normal")
        reason = str(ev.get("reason") or "")
        if etype == "Normal" and not (level.normal_events or reason in _NORMAL_EVENTS_KEPT):
            continue
        involved = ev.get("involvedObject") or ev.get("regarding") or {}
        kind = str(involved.get("kind") or "?")
        message = str(ev.get("message") or ev.get("note") or "")
        key = (etype, reason, kind, normalise(message))
        count = int(ev.get("count") or (ev.get("series") or {}).get("count") or 1)
        group = groups.get(key)
        if group is None:
            groups[key] = {"type": etype, "reason": reason, "object": f"{kind}/{involved.get('name', '?')}",
                           "message": _clip(message, level.line_chars), "count": count, "objects": 1,
                           "_names": {involved.get("name")}}
            continue
        group["count"] += count
        if involved.get("name") not in group["_names"]:
            group["_names"].add(involved.get("name"))
            group["objects"] += 1
    ordered = sorted(groups.values(), key=lambda g: (g["type"] != "Warning", -g["count"]))
    out = []
    for g in ordered[: level.events]:
        g.pop("_names")
        if g["objects"] == 1:
            g.pop("objects")
        out.append(g)
    return out


def _signals(signals: Sequence[Signal], level: _Level) -> list[dict[str, Any]]:
    out = []
    for sig in signals[: level.signals]:
        d = sig.to_dict()
        if "message" in d:
            d["message"] = _clip(d["message"], level.line_chars)
        out.append(d)
    return out


def _log_key(le: LogEvidence) -> tuple[Any, ...]:
    return (le.container, le.previous, tuple(normalise(b.line) for b in le.digest.decisive[:3]))


def _rank_logs(logs: Sequence[LogEvidence], focus: str | None) -> list[tuple[LogEvidence, int]]:
    """One representative per group of identical-looking logs (same container, same decisive lines),
    with the number of pods it stands for, most useful first."""
    groups: dict[tuple[Any, ...], list[LogEvidence]] = {}
    for le in logs:
        groups.setdefault(_log_key(le), []).append(le)

    def rank(item: tuple[LogEvidence, int]) -> tuple[Any, ...]:
        le, _ = item
        top = max((b.score for b in le.digest.decisive), default=0.0)
        return (le.container != focus, not le.digest.decisive, not le.previous, -top)

    reps = [(members[0], len(members)) for members in groups.values()]
    return sorted(reps, key=rank)


def _digest(le: LogEvidence, same: int, level: _Level, *, top: bool = False) -> dict[str, Any]:
    d = le.digest
    out: dict[str, Any] = {"source": le.where + (" (init)" if le.init else ""),
                           "lines": d.total_lines, "bytes": d.total_bytes}
    if same > 1:
        out["same_on_pods"] = same
    blocks = sorted(d.decisive, key=lambda b: -b.score)[: level.decisive]
    if blocks:
        out["decisive"] = []
        for i, b in enumerate(blocks):
            # the top decisive line of the top log is never clipped by the level (only by _squeeze)
            chars = _TOP_LINE_CHARS if top and i == 0 else level.line_chars
            block: dict[str, Any] = {"line": _clip(b.line, chars), "line_no": b.line_no}
            if b.count > 1:
                block["count"] = b.count
            if level.context_lines and b.context:
                ctx = [c for c in b.context if c != b.line][: level.context_lines]
                block["context"] = [_clip(c, level.line_chars) for c in ctx]
            out["decisive"].append(block)
    if d.total_lines <= len(d.last_lines):  # a short log: its tail is all of it
        if level.last_lines:
            out["all_lines"] = [_clip(x, level.line_chars) for x in d.last_lines[-level.last_lines:]]
        return out
    repeated = [(t, n) for t, n in d.templates if n > 1]  # a template seen once says nothing a line doesn't
    if level.templates and repeated:
        out["templates"] = [{"template": _clip(t, level.line_chars), "count": n}
                            for t, n in repeated[: level.templates]]
    if level.first_lines and d.first_lines:
        out["first_lines"] = [_clip(x, level.line_chars) for x in d.first_lines[: level.first_lines]]
    if level.last_lines and d.last_lines:
        out["last_lines"] = [_clip(x, level.line_chars) for x in d.last_lines[-level.last_lines:]]
    return out


def _template_of(rs: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if rs is None:
        return None
    return (rs.get("spec") or {}).get("template")


def _args_redactor(args: list[Any]) -> list[Any]:
    return list(args)  # redacted on entry


def _change(bundle: RedactedBundle, new_rs: Mapping[str, Any] | None, old_rs: Mapping[str, Any] | None,
            level: _Level) -> dict[str, Any] | None:
    if level.change == "none":
        return None
    new_t = _template_of(new_rs) or bundle.deployment["spec"]["template"]
    diff = template_diff(
        new_t, _template_of(old_rs), redact_args=_args_redactor,
        new_name=(new_rs or {}).get("metadata", {}).get("name"),
        old_name=(old_rs or {}).get("metadata", {}).get("name"),
    )
    if level.change == "brief":
        for c in diff.get("containers", {}).values():
            for key in ("livenessProbe", "readinessProbe", "startupProbe", "env_from"):
                c.pop(key, None)
            if isinstance(c.get("added"), dict):
                c["added"] = {k: v for k, v in c["added"].items() if k in ("image", "command", "args")}
        for key in ("affinity", "tolerations", "securityContext", "nodeSelector"):
            diff.pop(key, None)
    return diff


def _build(
    bundle: RedactedBundle, verdict: RolloutVerdict, signals: Sequence[Signal], logs: Sequence[LogEvidence],
    events: Sequence[Mapping[str, Any]], new_rs: Mapping[str, Any] | None, old_rs: Mapping[str, Any] | None,
    level: _Level,
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"rollout": _header(bundle, verdict, level)}
    if signals and level.signals:
        ctx["signals"] = _signals(signals, level)
    evs = _events(events, level) if level.events else []
    if evs:
        ctx["events"] = evs
    change = _change(bundle, new_rs, old_rs, level)
    if change is not None:
        ctx["change"] = change
    ranked = _rank_logs(logs, verdict.decisive_container)
    if ranked and level.logs:
        ctx["logs"] = [_digest(le, same, level, top=i == 0) for i, (le, same) in enumerate(ranked[: level.logs])]
        dropped = len(ranked) - len(ctx["logs"])
        if dropped > 0:
            ctx["logs_omitted"] = dropped
    if level is not _FULL:
        ctx["reduced"] = level.name
    return ctx


def _top_line(ctx: dict[str, Any]) -> tuple[str, str] | None:
    for log in ctx.get("logs", []):
        for block in log.get("decisive", []):
            return str(log["source"]), str(block["line"])
    return None


def _squeeze(ctx: dict[str, Any], budget: int, measure: Callable[[Mapping[str, Any]], int]) -> dict[str, Any]:
    """Last resort: shorten every other string until the context fits; the top decisive line is
    kept whole as long as anything fits, and cut (never dropped) when only it is left."""
    top = _top_line(ctx)
    ctx.pop("events", None)
    ctx.pop("change", None)
    ctx["rollout"].pop("conditions", None)
    for limit in (120, 80, 40):
        _truncate_strings(ctx, limit)
        if top is not None:
            ctx["logs"][0]["decisive"][0]["line"] = top[1]
        if measure(ctx) <= budget:
            return ctx
    ctx.pop("signals", None)
    if measure(ctx) <= budget:
        return ctx
    bare: dict[str, Any] = {"rollout": {k: ctx["rollout"][k] for k in ("namespace", "deployment", "status",
                                                                        "reason")}, "reduced": "bare"}
    if top is not None:
        source, line = top
        bare["logs"] = [{"source": source, "decisive": [{"line": line}]}]
        room = budget - measure({**bare, "logs": [{"source": source, "decisive": [{"line": ""}]}]})
        while measure(bare) > budget and room > 0:
            bare["logs"][0]["decisive"][0]["line"] = truncate_to_tokens(line, room)
            room -= 2  # JSON escaping can make the cut line cost a little more than its own tokens
    return bare


def _truncate_strings(value: Any, limit: int) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):
                value[k] = _clip(v, limit)
            else:
                _truncate_strings(v, limit)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, str):
                value[i] = _clip(v, limit)
            else:
                _truncate_strings(v, limit)
    return value


def reduce_bundle(
    bundle: RedactedBundle,
    *,
    verdict: RolloutVerdict,
    signals: Sequence[Signal],
    budget_tokens: int,
    logs: Sequence[LogEvidence] = (),
    events: Sequence[Mapping[str, Any]] | None = None,
    new_rs: Mapping[str, Any] | None = None,
    old_rs: Mapping[str, Any] | None = None,
    measure: Callable[[Mapping[str, Any]], int] = context_tokens,
) -> dict[str, Any]:
    """The reduced context, guaranteed to measure at most `budget_tokens` with `context_json`.

    `logs`, `events`, `new_rs`, `old_rs` come from prepare.py (restricted to the new ReplicaSet);
    `events` defaults to all events of the bundle.
    """
    evs = list(bundle.events) if events is None else list(events)
    ctx: dict[str, Any] = {}
    for level in _LEVELS:
        ctx = _build(bundle, verdict, signals, logs, evs, new_rs, old_rs, level)
        if measure(ctx) <= budget_tokens:
            return ctx
    return _squeeze(ctx, budget_tokens, measure)
