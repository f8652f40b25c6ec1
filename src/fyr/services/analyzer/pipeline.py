"""The offline analyzer pipeline: bundle -> verdict, signals, digests, rules, reduced context.

Pure over a `RolloutBundle` (no cluster, no database, no LLM), so the analyzer service, `fyr analyze`
and the corpus tests all run the same code. Secrecy: the bundle is redacted once, on entry
(`redact_bundle` -> `RedactedBundle`, which every later stage requires); what is printed is then only
*checked* (`render_output` fails closed with SecretLeak), never redacted again, so Fyr's own prose
("Secret: not found") is never masked.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from fyr.core.k8s_views import event_view
from fyr.core.rollout import RolloutSelection
from fyr.core.status import RolloutVerdict, StatusThresholds
from fyr.models.analysis import AnalysisResult
from fyr.models.bundle import RolloutBundle
from fyr.services.analyzer.guard import UrlPolicy, harden_rules
from fyr.services.analyzer.injection import detect
from fyr.services.analyzer.prepare import (
    prepare_logs,
    raw_log_bytes,
    rollout_objects,
    rollout_signals,
    select_bundle,
)
from fyr.services.analyzer.redaction import RedactedBundle, redact_bundle
from fyr.services.analyzer.reduction import context_tokens as measure_context
from fyr.services.analyzer.reduction import reduce_bundle
from fyr.services.analyzer.rules import classify
from fyr.services.analyzer.signals import normalise

__all__ = ["PipelineResult", "analyze_bundle", "failure_signature", "render_output", "render_text"]


@dataclass
class PipelineResult:
    verdict: RolloutVerdict
    reduced_context: dict[str, Any]
    rules: AnalysisResult
    signature: str  # sha256 of (namespace/deployment, category, normalised evidence, image) -> hex[:32]
    raw_log_bytes: int
    context_tokens: int
    redacted: RedactedBundle  # what the analysis saw; `redacted.check` guards whatever leaves the process

    def check(self, value: Any, *, where: str) -> None:
        """Fail closed (SecretLeak) if `value` holds a secret masked on entry or one with a telling shape."""
        self.redacted.check(value, where=where)


_VOLATILE = re.compile(r"\b\d+\b")
_WHERE = re.compile(r"^[^:\s]+/[^:\s]+(?: \((?:previous|init)\))*: ")


def failure_signature(target: str, analysis: AnalysisResult, image: str | None) -> str:
    """Same deployment failing the same way on the same image -> same signature, whichever pods and
    whenever: pod names, uids, counts and numbers are normalised out of the evidence."""
    evidence = []
    for line in analysis.evidence[:3]:
        text = _WHERE.sub("", line)
        text = re.sub(r"\[\d+ pods\]|\(x\d+\)|restarts \d+", "", text)
        evidence.append(_VOLATILE.sub("N", normalise(text)).strip())
    material = "\x1f".join([target, analysis.category.value, *evidence, image or ""])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def _memory_limits(bundle: RedactedBundle) -> dict[str, str]:
    spec = (bundle.deployment.get("spec") or {}).get("template", {}).get("spec") or {}
    out: dict[str, str] = {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
        if limit:
            out[str(c.get("name"))] = str(limit)
    return out


def _probe_ports(bundle: RolloutBundle) -> dict[str, dict[str, Any]]:
    """Per container: the ports it declares and the port each of its probes connects to."""
    spec = (bundle.deployment.get("spec") or {}).get("template", {}).get("spec") or {}
    out: dict[str, dict[str, Any]] = {}
    for c in spec.get("containers") or []:
        ports = [p for p in c.get("ports") or [] if isinstance(p, dict)]
        named = {str(p.get("name")): p.get("containerPort") for p in ports if p.get("name")}
        entry: dict[str, Any] = {"declared": [p.get("containerPort") for p in ports if p.get("containerPort")]}
        for kind in ("liveness", "readiness", "startup"):
            probe = c.get(f"{kind}Probe") or {}
            action = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc") or {}
            port = action.get("port")
            entry[kind] = named.get(port, port) if isinstance(port, str) else port
            command = (probe.get("exec") or {}).get("command")
            if isinstance(command, list) and command:
                entry[f"{kind}_exec"] = " ".join(str(x) for x in command)
        out[str(c.get("name"))] = entry
    return out


def workload_target(bundle: RolloutBundle) -> str:
    """How the rules name the workload: `namespace/name` for a Deployment (as always), the kind
    first for the others (`StatefulSet data/pg`)."""
    if bundle.workload_kind == "Deployment":
        return f"{bundle.namespace}/{bundle.name}"
    return f"{bundle.workload_kind} {bundle.namespace}/{bundle.name}"


def failing_unit(sel: RolloutSelection, verdict: RolloutVerdict) -> str:
    """Where a StatefulSet is stuck (its ordinal) or a DaemonSet fails (its node), for the rules' text;
    kept out of the failure signature: the same cause on another node is the same failure."""
    if sel.kind == "StatefulSet" and verdict.decisive_pod:
        ordinal = verdict.decisive_pod.removeprefix(sel.workload.name + "-")
        return f" (stuck at ordinal {ordinal})" if ordinal.isdigit() else ""
    if sel.kind == "DaemonSet":
        node = next((p.node for p in sel.pod_views if p.name == verdict.decisive_pod and p.node), "")
        return f" (failing on node {node})" if node else ""
    return ""


def analyze_bundle(
    raw: RolloutBundle | RedactedBundle, *, context_tokens: int = 4000,
    thresholds: StatusThresholds = StatusThresholds(), url_policy: UrlPolicy | None = None,
) -> PipelineResult:
    """Run everything that needs no network on one bundle (redacted here first unless it already is).
    The rules' analysis comes out flagged when the context holds instruction-like text, its quotes of
    such text withheld (guard.harden_rules)."""
    budget = context_tokens
    redacted = raw if isinstance(raw, RedactedBundle) else redact_bundle(raw)
    bundle = redacted.bundle  # past this point only the redacted copy is read
    sel = select_bundle(bundle)
    verdict = sel.verdict([event_view(e) for e in bundle.events], thresholds=thresholds, now=bundle.collected_at)
    objs = rollout_objects(redacted, sel)
    signals = rollout_signals(redacted, objs)
    logs = prepare_logs(redacted, objs)
    target = workload_target(bundle)
    rules = classify(verdict=verdict, signals=signals, logs=logs, target=target + failing_unit(sel, verdict),
                     limits=_memory_limits(redacted), probes=_probe_ports(bundle))
    ctx = reduce_bundle(redacted, verdict=verdict, signals=signals, budget_tokens=budget, logs=logs,
                        events=objs.events, new_rs=objs.new_rs, old_rs=objs.old_rs)
    git_urls = (bundle.git.pipeline_url, bundle.git.mr_url) if bundle.git else ()
    policy = (url_policy or UrlPolicy()).with_context(ctx, urls=git_urls)
    rules = harden_rules(rules, detect(ctx), policy)
    return PipelineResult(
        verdict=verdict,
        reduced_context=ctx,
        rules=rules,
        signature=failure_signature(target, rules, verdict.image),
        raw_log_bytes=raw_log_bytes(raw),
        context_tokens=measure_context(ctx),
        redacted=redacted,
    )


def render_output(result: PipelineResult, analysis: AnalysisResult, *, duration_s: float) -> dict[str, Any]:
    """The `fyr analyze --format json` object, exactly the docs/contracts.md 'fyr analyze output' shape; SecretLeak if
    the
    last check finds a secret in it (the caller prints nothing then)."""
    v = result.verdict
    out = {
        "rollout": {"status": v.status.value, "reason": v.reason, "message": v.message},
        "analysis": analysis.model_dump(mode="json"),
        "reduced_context": result.reduced_context,
        "metrics": {
            "raw_log_bytes": result.raw_log_bytes,
            "context_tokens": result.context_tokens,
            "duration_s": round(duration_s, 3),
        },
    }
    result.check(out, where="output")
    return out


_ICON = {"FAILED": "✗", "SUCCESS": "✓", "ROLLING_OUT": "…", "PENDING": "…", "SUPERSEDED": "–", "DELETED": "–"}


def _wrap(text: str, indent: int, width: int = 100) -> str:
    return textwrap.fill(text, width=width, initial_indent="", subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)


def render_text(output: dict[str, Any]) -> str:
    """`--format text`: the same facts as the JSON, for a person in a terminal."""
    ro, an, me = output["rollout"], output["analysis"], output["metrics"]
    head = output.get("reduced_context", {}).get("rollout", {})
    target = f"{head.get('namespace', '?')}/{head.get('deployment', '?')}"
    if head.get("kind") not in (None, "Deployment"):
        target = f"{head['kind']} {target}"
    lines = [f"{_ICON.get(ro['status'], '?')} {ro['status']}  {target}  ({ro['reason']})"]
    extra = [f"generation {head['generation']}" if head.get("generation") is not None else "",
             f"revision {head['revision']}" if head.get("revision") is not None else "",
             f"image {head['image']}" if head.get("image") else ""]
    if any(extra):
        lines.append("  " + ", ".join(x for x in extra if x))
    if ro.get("message"):
        lines.append("  " + _wrap(ro["message"], 2))
    lines += [
        "",
        f"Category     {an['category']}  (confidence {an['confidence']}; {an['model_name']}, {an['prompt_version']})",
        f"Summary      {_wrap(an['summary'], 13)}",
        f"Root cause   {_wrap(an['root_cause'], 13)}",
    ]
    for flag in an.get("flags") or []:
        lines.append(f"Flag         {_wrap(str(flag.get('message')), 13)}")
    if an.get("evidence"):
        lines.append("Evidence")
        lines += [f"  • {_wrap(e, 4)}" for e in an["evidence"]]
    lines.append(f"Fix          {_wrap(an['suggested_fix'], 13)}")
    kib = me["raw_log_bytes"] / 1024
    source = f"{kib:,.1f} KiB of logs" if me["raw_log_bytes"] else "events and status only (no logs read)"
    lines += ["", f"Context: {me['context_tokens']} tokens from {source} in {me['duration_s']:.2f} s"]
    return "\n".join(lines) + "\n"
